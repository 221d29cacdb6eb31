"""Audit records as CEF (ArcSight Common Event Format, version 0), for the syslog sink.

    CEF:0|MySafe ChatOps bot|mysafe-bot|1|<event>|<event>|<severity>|<extension>

Header fields escape `\\` and `|`; extension values escape `\\`, `=`, and CR/LF as `\\r`/`\\n`
(the CEF specification's rules), so no value can forge a field or a line. The extension carries
the stable id `externalId=<seq>`, `rt` (the record's time, epoch milliseconds), `suser` (the
actor), `act` (the event), `cs1` the request id, `cs2` the verb, `cs3` the entry, and `cs6` the
whole record in the log's canonical JSON, so nothing it says is lost.
"""

from __future__ import annotations

import json
from datetime import datetime

from app.audit.log import Entry

VENDOR, PRODUCT, VERSION = "MySafe ChatOps bot", "mysafe-bot", "1"
#: CEF severity (0–10) by outcome: refusals and failures stand out.
SEVERITY = {
    "request.failed": 6,
    "revoke.failed": 6,
    "revoke.given_up": 8,
    "callback.gave_up": 5,
    "request.refused": 4,
    "click.refused": 5,
    "callback.refused": 5,
}


def header_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def value_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("=", "\\=").replace("\r", "\\r").replace("\n", "\\n")


def line(entry: Entry) -> str:
    """One record as one CEF line (no line break inside)."""
    record = json.loads(entry.body)
    name = str(record.get("event", ""))
    ts = str(record.get("ts", ""))
    pairs = [
        ("externalId", str(entry.seq)),
        ("rt", str(int(datetime.fromisoformat(ts).timestamp() * 1000)) if ts else ""),
        ("suser", str(record.get("actor", ""))),
        ("act", name),
    ]
    for n, label, field in ((1, "request", "request"), (2, "verb", "verb"), (3, "entry", "entry")):
        if record.get(field):
            pairs += [(f"cs{n}Label", label), (f"cs{n}", str(record[field]))]
    pairs += [("cs6Label", "record"), ("cs6", entry.body.decode())]
    extension = " ".join(f"{k}={value_escape(v)}" for k, v in pairs if v)
    head = [VENDOR, PRODUCT, VERSION, name, name, str(SEVERITY.get(name, 3))]
    return "CEF:0|" + "|".join(header_escape(h) for h in head) + "|" + extension
