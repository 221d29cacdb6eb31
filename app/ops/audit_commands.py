"""`mysafe-bot audit export` and `mysafe-bot audit verify`: the verifiable log, for auditors.

`export` streams to a file or stdout (see app.audit.export for what a range holds). `verify`
needs no settings and no Redis: only the export and the public key, which `doctor` prints and
each checkpoint in the audit channel can be checked with.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from app.audit.formats import CSV_HEADER, Item, Record, csv_line, jsonl_line
from app.audit.log import Entry
from app.audit.sinks import ocsf
from app.audit.verify import Tampered, verify_extends, verify_file
from app.foundations.clock import utcnow
from app.foundations.durations import parse_duration
from app.foundations.errors import ConfigError
from app.foundations.settings import Scope
from app.foundations.signing import load_public


def export(*, since: str | None, until: str | None, form: str, output: str | None) -> int:
    from app.audit.export import export as records
    from app.ops.runtime import admin_runtime

    start, end = moment("--since", since), moment("--until", until)
    runtime = admin_runtime(Scope.NONE)
    try:
        items = records(
            runtime.services.redis, prefix=runtime.settings.key_prefix, since=start, until=end
        )
        with _opened(output) as out:
            count = _write(items, out, form)
    finally:
        runtime.close()
    print(f"exported {count} record(s)", file=sys.stderr)
    return 0


def _write(items: Iterable[Item], out: BinaryIO, form: str) -> int:
    count = 0
    if form == "csv":
        out.write(CSV_HEADER.encode())
    for item in items:
        if form == "ocsf":
            out.write(_ocsf_line(item))
        else:
            out.write(jsonl_line(item) if form == "jsonl" else csv_line(item).encode())
        count += isinstance(item, Record)
    return count


def _ocsf_line(item: Item) -> bytes:
    """A record as the JSON sinks send it (a SIEM's backfill); checkpoints have no OCSF form,
    so an OCSF export is for loading, and `verify` reads only jsonl and csv."""
    if not isinstance(item, Record):
        return b""
    return ocsf.dumps(Entry("", item.seq, item.body)) + b"\n"


class _opened:
    """The output file, or stdout's bytes (left open)."""

    def __init__(self, path: str | None) -> None:
        self.path = path

    def __enter__(self) -> BinaryIO:
        self.file = open(self.path, "wb") if self.path else sys.stdout.buffer  # noqa: SIM115
        return self.file

    def __exit__(self, *exc: object) -> None:
        if self.path:
            self.file.close()
        else:
            self.file.flush()


def moment(option: str, text: str | None) -> datetime | None:
    """`24h`, `7d` (that long ago) or an ISO 8601 time (UTC when it names no zone)."""
    if not text:
        return None
    try:
        return utcnow() - timedelta(seconds=parse_duration(text))
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            option, "expected a duration such as 24h or a time such as 2026-01-31T00:00Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def verify(*, file: str, keys: list[str], previous: str | None) -> int:
    """Exit 0 with one line when the export (and its extension of `previous`) holds; 1 with
    the first bad seq when not."""
    publics = [public_key(text) for text in keys]
    try:
        old = verify_file(Path(previous), publics) if previous else None
        size = old.last.size if old and old.last else None
        new = verify_file(Path(file), publics, snapshot_at=size)
        if old is not None:
            verify_extends(Path(file), Path(previous or ""), old, new)
    except Tampered as problem:
        print(f"FAIL {file}: {problem}")
        return 1
    except OSError as error:
        raise ConfigError(error.filename or file, f"cannot read it ({error.strerror})") from None
    extends = f"; extends {previous} (size {old.size})" if old else ""
    print(f"{new.line()}{extends}")
    return 0


def public_key(text: str) -> Ed25519PublicKey:
    """`--key`: the public key itself, or a file holding it."""
    path = Path(text)
    value = path.read_text().strip() if path.is_file() else text
    try:
        return load_public(value)
    except ValueError:
        raise ConfigError(
            "--key",
            "expected an Ed25519 public key (`mysafe-bot doctor` prints it) or a file holding one",
        ) from None
