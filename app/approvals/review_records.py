"""An access review campaign's records: the campaign, its lines (one user's or group's right
on one entry, with the reviewers who may decide it) and each line's decision, as they are
written to and read from Redis (app.approvals.reviews keeps them), and a report's row."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

from app.approvals.review_schedules import OnTimeout
from app.foundations.clock import timestamp
from app.foundations.errors import ValidationError
from app.mysafe.models import Kind

#: Everything a campaign keeps lives this long past its due date (seconds).
RETENTION = 400 * 86400


class Choice(Enum):
    KEEP = "keep"
    REMOVE = "remove"
    #: Edit lowered to view (offered only on lines with edit).
    REDUCE = "reduce"


class CampaignState(Enum):
    #: Made, its lines not yet read (its start job runs).
    STARTING = "starting"
    RUNNING = "running"
    CANCELLED = "cancelled"
    #: Past its due date, undecided lines kept or revoked (`on_timeout`).
    ENDED = "ended"


#: `Decided.by` of a line the due date decided (`on_timeout: keep | revoke`).
TIMEOUT = "timeout"


@dataclass(frozen=True)
class Line:
    """One user's or group's right on one entry, as the campaign's start read it."""

    kind: Kind
    identifier: int
    entry_name: str
    field: str
    name: str
    right: str
    reviewers: tuple[str, ...]

    @property
    def id(self) -> str:
        return line_id(self.kind, self.identifier, self.field, self.name)

    @property
    def entry(self) -> str:
        return f"{self.kind.value}:{self.identifier}"

    @property
    def is_group(self) -> bool:
        return self.field == "groups_allowed"

    def dumps(self) -> str:
        return json.dumps({**asdict(self), "kind": self.kind.value})

    @classmethod
    def loads(cls, text: str) -> Line:
        data = json.loads(text)
        return cls(**{**data, "kind": Kind(data["kind"]), "reviewers": tuple(data["reviewers"])})


def line_id(kind: Kind, identifier: int, field: str, name: str) -> str:
    return f"{kind.value}:{identifier}:{field}:{name.casefold()}"


@dataclass(frozen=True)
class Decided:
    """A line's decision: who, when, and for a removal or reduction its request and verified
    result (`pending` until applied, then `removed` / `reduced`, `drift: …`, or the request's
    end: `denied` …)."""

    choice: Choice
    by: str
    at: float
    request: str = ""
    result: str = ""

    def dumps(self) -> str:
        return json.dumps({**asdict(self), "choice": self.choice.value})

    @classmethod
    def loads(cls, text: str) -> Decided:
        data = json.loads(text)
        return cls(**{**data, "choice": Choice(data["choice"])})


@dataclass(frozen=True)
class Campaign:
    name: str
    state: CampaignState
    started: float
    due: float
    started_by: str = ""
    tags: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    #: `keep`, `revoke` or `escalate` (app.approvals.review_schedules.OnTimeout).
    on_timeout: str = "keep"
    escalate_to: tuple[str, ...] = ()
    #: Seconds between reminders (0: none).
    remind_every: int = 0
    #: The policy's `reviews:` entry that started it ("" when started from the CLI).
    schedule: str = ""
    #: Lines given to `escalate_to` at the due date.
    escalated: int = 0

    @classmethod
    def from_redis(cls, data: Mapping[str, str]) -> Campaign:
        return cls(
            name=data["name"],
            state=CampaignState(data["state"]),
            started=float(data["started"]),
            due=float(data["due"]),
            started_by=data.get("started_by", ""),
            tags=tuple(json.loads(data.get("tags", "[]"))),
            kinds=tuple(json.loads(data.get("kinds", "[]"))),
            on_timeout=data.get("on_timeout", "keep"),
            escalate_to=tuple(json.loads(data.get("escalate_to", "[]"))),
            remind_every=int(data.get("remind_every", 0)),
            schedule=data.get("schedule", ""),
            escalated=int(data.get("escalated", 0)),
        )

    def to_redis(self) -> dict[str, str]:
        return {
            "name": self.name,
            "state": self.state.value,
            "started": repr(self.started),
            "due": repr(self.due),
            "started_by": self.started_by,
            "tags": json.dumps(list(self.tags)),
            "kinds": json.dumps(list(self.kinds)),
            "on_timeout": self.on_timeout,
            "escalate_to": json.dumps(list(self.escalate_to)),
            "remind_every": str(self.remind_every),
            "schedule": self.schedule,
            "escalated": str(self.escalated),
        }

    @property
    def ttl(self) -> int:
        return max(int(self.due - self.started), 0) + RETENTION


def new_campaign(
    *,
    name: str,
    due: int,
    tags: Sequence[str] = (),
    kinds: Sequence[Kind] = tuple(Kind),
    started_by: str = "cli",
    on_timeout: OnTimeout = OnTimeout.KEEP,
    escalate_to: Sequence[str] = (),
    remind_every: int = 0,
    schedule: str = "",
    now: float | None = None,
) -> Campaign:
    """A campaign about to start; `ValidationError` for a bad name or an escalation without
    anyone to escalate to."""
    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").isalnum():
        raise ValidationError({"name": "letters, digits, - and _ (at most 64)"})
    if on_timeout is OnTimeout.ESCALATE and not escalate_to:
        raise ValidationError({"escalate_to": "on_timeout escalate needs someone to escalate to"})
    began = timestamp() if now is None else now
    return Campaign(
        name,
        CampaignState.STARTING,
        began,
        began + due,
        started_by,
        tuple(tags),
        tuple(k.value for k in kinds),
        on_timeout=on_timeout.value,
        escalate_to=tuple(escalate_to),
        remind_every=remind_every,
        schedule=schedule,
    )


def by_entry(lines: Iterable[Line]) -> dict[str, list[Line]]:
    found: dict[str, list[Line]] = {}
    for line in lines:
        found.setdefault(line.entry, []).append(line)
    return found


def jsonable(line: Line, decided: Decided | None) -> dict[str, Any]:
    """One report row: the line and its decision, no secret value anywhere."""
    return {
        "kind": line.kind.value,
        "entry_id": line.identifier,
        "entry_name": line.entry_name,
        "grantee_type": "group" if line.is_group else "user",
        "grantee": line.name,
        "right": line.right,
        "reviewers": " ".join(line.reviewers),
        "decision": decided.choice.value if decided else "undecided",
        "decided_by": decided.by if decided else "",
        "decided_at": decided.at if decided else "",
        "request": decided.request if decided else "",
        "result": (decided.result or ("kept" if decided.choice is Choice.KEEP else "pending"))
        if decided
        else "",
    }
