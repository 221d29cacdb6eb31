"""The export's two formats, written and read back byte for byte.

An export is a sequence of items: a `Start` (when it begins after seq 0: the tree's frontier
there), `Record`s in sequence order, and after the last record each checkpoint covers, that
`Checkpoint`. JSON lines: each line is one object in the log's canonical encoding,

    {"start":{"nodes":[…],"size":N}}
    {"leaf":"<hex>","record":{…,"seq":N,…}}
    {"checkpoint":{"previous":…,"root":…,"signature":…,"size":N,"time":…}}

CSV: a header, then one physical line per item: kind, seq (a checkpoint's or start's size), the
record's ts/event/request/actor for people (a value with a control character JSON-quoted so a
row never spans lines), leaf, and `json`: the record, checkpoint or nodes in canonical form.
Reading re-renders each item and requires the very bytes read: a changed byte anywhere fails.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from app.audit.checkpoints import Checkpoint
from app.audit.log import canonical


@dataclass(frozen=True)
class Start:
    size: int
    nodes: tuple[str, ...]


@dataclass(frozen=True)
class Record:
    seq: int
    leaf: str
    #: The record's canonical bytes: the leaf is SHA-256(0x00 ‖ body).
    body: bytes


Item = Start | Record | Checkpoint
FORMATS = ("jsonl", "csv")
CSV_HEADER = "kind,seq,ts,event,request,actor,leaf,json\r\n"


def jsonl_line(item: Item) -> bytes:
    if isinstance(item, Record):
        return b'{"leaf":"' + item.leaf.encode() + b'","record":' + item.body + b"}\n"
    if isinstance(item, Start):
        return canonical({"start": {"nodes": list(item.nodes), "size": item.size}}) + b"\n"
    return canonical({"checkpoint": item.to_json()}) + b"\n"


def parse_jsonl(line: bytes) -> Item:
    """The item on this line; `ValueError` unless the line is exactly as written."""
    data = json.loads(line)
    if not isinstance(data, dict) or len(data) not in (1, 2):
        raise ValueError("not an export line")
    item = _item_of(data)
    if jsonl_line(item) != line:
        raise ValueError("not the canonical form of its content")
    return item


def _item_of(data: dict[str, Any]) -> Item:
    if set(data) == {"leaf", "record"}:
        record, leaf = data["record"], data["leaf"]
        if not isinstance(record, dict) or not isinstance(record.get("seq"), int):
            raise ValueError("a record has an integer seq")
        if not isinstance(leaf, str) or len(leaf) != 64:
            raise ValueError("a leaf is 64 hex digits")
        return Record(record["seq"], leaf, canonical(record))
    if set(data) == {"start"}:
        start = data["start"]
        if not isinstance(start, dict) or set(start) != {"nodes", "size"}:
            raise ValueError("a start has nodes and size")
        return Start(int(start["size"]), tuple(str(n) for n in start["nodes"]))
    if set(data) == {"checkpoint"}:
        return Checkpoint.from_json(data["checkpoint"])
    raise ValueError("not an export line")


def csv_line(item: Item) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(_row(item))
    return out.getvalue()


def _row(item: Item) -> list[str]:
    if isinstance(item, Record):
        record = json.loads(item.body)
        people = [_plain(str(record.get(k, ""))) for k in ("ts", "event", "request", "actor")]
        return ["record", str(item.seq), *people, item.leaf, item.body.decode()]
    if isinstance(item, Start):
        nodes = canonical({"nodes": list(item.nodes)}).decode()
        return ["start", str(item.size), "", "", "", "", "", nodes]
    body = canonical(item.to_json()).decode()
    return ["checkpoint", str(item.size), item.time, "", "", "", "", body]


def _plain(text: str) -> str:
    return text if text.isprintable() else json.dumps(text)


def parse_csv(line: str) -> Item:
    """The item on this CSV line; `ValueError` unless the line is exactly as written."""
    (row,) = list(csv.reader([line]))
    if len(row) != 8:
        raise ValueError("a row has 8 columns")
    kind, body = row[0], json.loads(row[7])
    if kind == "record":
        item: Item = _item_of({"leaf": row[6], "record": body})
    elif kind == "start":
        item = _item_of({"start": {**body, "size": int(row[1])}})
    elif kind == "checkpoint":
        item = Checkpoint.from_json(body)
    else:
        raise ValueError("unknown kind")
    if csv_line(item) != line:
        raise ValueError("not the canonical form of its content")
    return item
