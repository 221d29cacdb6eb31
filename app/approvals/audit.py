"""The audit trail: every creation, click, transition and outcome, appended to the verifiable
log (app.audit: a sequence number each, a leaf of a Merkle tree, signed checkpoints).

Each record is also logged as one structured line. Records carry ids, names, states and
MySafe's messages — never a secret value (the callers have none to give: requests keep secrets
encrypted in their own field, and the engine never passes them here).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.audit.log import RECENT, AuditLog
from app.foundations.clock import utcnow
from app.foundations.logs import safe_extra
from app.foundations.storage import RedisClient

log = logging.getLogger("mysafe_bot.audit")


@dataclass(frozen=True)
class AuditRecord:
    id: str
    ts: str
    event: str
    request: str
    actor: str
    facts: dict[str, str]
    #: Its place in the verifiable log; None for a record from before sequence numbers.
    seq: int | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            **({"seq": self.seq} if self.seq is not None else {}),
            "ts": self.ts,
            "event": self.event,
            "request": self.request,
            "actor": self.actor,
            **self.facts,
        }

    def line(self) -> str:
        """One printed line per record, whatever the text holds: a value with a space, a
        quote or any control character (a tab or a newline in a ticket's reason could forge
        a line of its own) is printed JSON-quoted, which escapes them all."""
        facts = " ".join(f"{_field(k)}={_field(v)}" for k, v in self.facts.items())
        head = " ".join(_field(x) for x in (self.event, self.request, self.actor))
        seq = f"#{self.seq} " if self.seq is not None else ""  # what `audit verify` names
        return f"{self.ts}  {seq}{head} {facts}".rstrip()


def _line(fields: Mapping[str, str]) -> None:
    """The record as one structured log line, beside its place in the log."""
    event = fields.get("event", "")
    log.info(
        event,
        extra=safe_extra(
            {"event": event, **{k: v for k, v in fields.items() if k not in ("ts", "event")}}
        ),
    )


def _field(text: str) -> str:
    plain = text.isprintable() and not any(c in text for c in ' "=\\') and text != ""
    return text if plain else json.dumps(text)


class Audit:
    def __init__(self, redis: RedisClient, *, prefix: str) -> None:
        self.redis = redis
        self.log = AuditLog(redis, prefix=prefix)
        self.key = self.log.keys.stream

    def fields(
        self, event: str, *, request: str = "", actor: str = "", **facts: object
    ) -> dict[str, str]:
        clean = {k: str(v) for k, v in facts.items() if v not in (None, "")}
        return {
            "ts": utcnow().isoformat(timespec="milliseconds"),
            "event": event,
            "request": request,
            "actor": actor,
            **clean,
        }

    def record(
        self, event: str, *, request: str = "", actor: str = "", pipe: Any = None, **facts: object
    ) -> None:
        """Append to the log (in `pipe` when given, saving a round trip) and log the line.
        Redis keeps what checkpoints cover for `MYSAFE_BOT_AUDIT_RETENTION` (app.audit)."""
        fields = self.fields(event, request=request, actor=actor, **facts)
        self.log.append(fields, pipe=pipe)
        _line(fields)

    def record_once(self, rid: str, fields: Mapping[str, str], *, remember: int = RECENT) -> bool:
        """Append `fields` as the record of id `rid` unless one of that id is in already (for
        `remember` seconds): a transition's record moved from its request's outbox (its id the
        transition's, see app.approvals.outbox), or an act that sends its record again after
        Redis failed under it. True when this call appended it (and logged its line)."""
        if self.log.append(fields, rid=rid, remember=remember) is None:
            return False
        _line(fields)
        return True

    def record_many_once(
        self, records: Sequence[tuple[str, Mapping[str, str]]], *, remember: int = RECENT
    ) -> int:
        """`record_once` for each (id, fields), in one round trip: how many were appended."""
        appended = 0
        for (_rid, fields), seq in zip(
            records, self.log.append_many(records, remember=remember), strict=True
        ):
            if seq is not None:
                _line(fields)
                appended += 1
        return appended

    def read(
        self, *, since: datetime | None = None, request: str | None = None, count: int = 10_000
    ) -> Iterator[AuditRecord]:
        start = f"{int(since.timestamp() * 1000)}-0" if since else "-"
        for entry_id, fields in self.redis.xrange(self.key, min=start, count=count):
            if request and fields.get("request") != request:
                continue
            core = {k: fields.get(k, "") for k in ("ts", "event", "request", "actor")}
            facts = {k: v for k, v in fields.items() if k not in core and k != "seq"}
            seq = int(fields["seq"]) if "seq" in fields else None
            yield AuditRecord(entry_id, facts=facts, seq=seq, **core)
