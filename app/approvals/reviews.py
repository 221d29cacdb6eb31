"""Access review campaigns in Redis: what each campaign asks about, and what was decided.

A campaign is a fixed list of *lines* made at its start, one per (entry, user or group with
access), each with the reviewers who may decide it (the people who can edit the entry and have
linked their key). Each line gets at most one decision, taken atomically
(`review_decide.lua`): two reviewers clicking the same line at once get one decision, and the
second is told whose it is.

Redis layout (P = `MYSAFE_BOT_KEY_PREFIX`), a campaign's keys on its own hash tag:

    P:review:{Q1}:campaign    hash  name, state (running | cancelled), started, due, started_by,
                                    tags, kinds
    P:review:{Q1}:lines       hash  line id (`password:312:users_allowed:carol`) -> `Line`
    P:review:{Q1}:decisions   hash  line id -> `Decided` (keep or remove, who, when): set once
    P:review:{Q1}:outcomes    hash  line id -> a removal's request id and its verified result
    P:review:{Q1}:cards       hash  "reviewer|password:312|page" -> "channel ts" of a DM card
    P:idx:reviews             set   campaign names
    P:idx:reviews:removals    hash  line id -> campaign: where a removal's outcome goes,
                                    written before its request is filed

Everything a campaign keeps lives `RETENTION` seconds past its due date; the report
(`review report`, whose digest is in the audit log) is the lasting evidence.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from enum import Enum
from typing import Any

from app.approvals.scripts import lua
from app.mysafe.models import Kind
from app.storage import RedisClient

RETENTION = 400 * 86400


class Choice(Enum):
    KEEP = "keep"
    REMOVE = "remove"
    #: Edit lowered to view (offered only on lines with edit).
    REDUCE = "reduce"


class CampaignState(Enum):
    RUNNING = "running"
    CANCELLED = "cancelled"


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
        }


@dataclass(frozen=True)
class Claim:
    """What `ReviewStore.decide` found: `ok`, `taken` (with the decision that won) or
    `closed` (the campaign is not running)."""

    status: str
    earlier: Decided | None = None


class ReviewStore:
    def __init__(self, redis: RedisClient, *, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._decide = redis.register_script(lua("review_decide"))
        self._undo = redis.register_script(lua("review_undo"))

    # --- keys ---------------------------------------------------------------------------------

    def _key(self, name: str, part: str) -> str:
        return f"{self.prefix}:review:{{{name}}}:{part}"

    def campaign_key(self, name: str) -> str:
        return self._key(name, "campaign")

    def lines_key(self, name: str) -> str:
        return self._key(name, "lines")

    def decisions_key(self, name: str) -> str:
        return self._key(name, "decisions")

    def cards_key(self, name: str) -> str:
        return self._key(name, "cards")

    def index_key(self) -> str:
        return f"{self.prefix}:idx:reviews"

    def removals_key(self) -> str:
        return f"{self.prefix}:idx:reviews:removals"

    # --- campaigns ----------------------------------------------------------------------------

    def create(self, campaign: Campaign, lines: Sequence[Line]) -> bool:
        """Store a new campaign and its lines; False (nothing written) if the name is taken."""
        if not self.redis.hsetnx(self.campaign_key(campaign.name), "name", campaign.name):
            return False
        ttl = max(int(campaign.due - campaign.started), 0) + RETENTION
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.campaign_key(campaign.name), mapping=campaign.to_redis())
        if lines:
            pipe.hset(self.lines_key(campaign.name), mapping={ln.id: ln.dumps() for ln in lines})
        for key in (self.campaign_key(campaign.name), self.lines_key(campaign.name)):
            pipe.expire(key, ttl)
        pipe.sadd(self.index_key(), campaign.name)
        pipe.execute()
        return True

    def campaign(self, name: str) -> Campaign | None:
        data = self.redis.hgetall(self.campaign_key(name))
        return Campaign.from_redis(data) if data.get("state") else None

    def names(self) -> list[str]:
        return sorted(self.redis.smembers(self.index_key()))

    def cancel(self, name: str) -> bool:
        """Stop taking decisions; True if it was running."""
        key = self.campaign_key(name)
        if self.redis.hget(key, "state") != CampaignState.RUNNING.value:
            return False
        self.redis.hset(key, "state", CampaignState.CANCELLED.value)
        return True

    def lines(self, name: str) -> list[Line]:
        found = [Line.loads(t) for t in self.redis.hgetall(self.lines_key(name)).values()]
        return sorted(found, key=lambda ln: (ln.kind.value, ln.identifier, ln.field, ln.name))

    def line(self, name: str, line: str) -> Line | None:
        text = self.redis.hget(self.lines_key(name), line)
        return Line.loads(text) if text else None

    # --- decisions ----------------------------------------------------------------------------

    def decisions(self, name: str) -> dict[str, Decided]:
        """Each decided line, with its removal's request and outcome when there is one."""
        found = self.redis.hgetall(self.decisions_key(name))
        outcomes = {k: json.loads(v) for k, v in self.redis.hgetall(self.outcomes_key(name)).items()}
        decided = {k: Decided.loads(v) for k, v in found.items()}
        for key, filed in outcomes.items():
            if key in decided:
                decided[key] = replace(
                    decided[key], request=filed["request"], result=filed["result"] or "pending"
                )
        return decided

    def decide(self, name: str, line: str, decided: Decided) -> Claim:
        status, earlier = self._decide(
            keys=[self.campaign_key(name), self.decisions_key(name)], args=[line, decided.dumps()]
        )
        if status == "taken":
            return Claim(status, Decided.loads(earlier))
        if status == "ok":
            self.redis.expire(self.decisions_key(name), RETENTION)
        return Claim(status)

    def undo(self, name: str, line: str, decided: Decided) -> None:
        self._undo(keys=[self.decisions_key(name)], args=[line, decided.dumps()])

    def outcomes_key(self, name: str) -> str:
        return self._key(name, "outcomes")

    def expect(self, name: str, line: str) -> None:
        """Before a removal's request is filed: its outcome, whenever it comes (an approver may
        click before `submit` returns), is found by the line it is about."""
        self.redis.hset(self.removals_key(), line, name)

    def expected(self, line: str) -> str | None:
        return self.redis.hget(self.removals_key(), line)

    def outcome(self, name: str, line: str, request_id: str, result: str = "") -> None:
        """File a removal's request (`result` empty: only if nothing is filed yet) or its
        outcome; kept apart from the decision, which never changes once made."""
        key = self.outcomes_key(name)
        value = json.dumps({"request": request_id, "result": result})
        if result:
            self.redis.hset(key, line, value)
        else:
            self.redis.hsetnx(key, line, value)
        self.redis.expire(key, RETENTION)

    # --- cards --------------------------------------------------------------------------------

    def add_card(self, name: str, reviewer: str, entry: str, page: int, where: tuple[str, str]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(self.cards_key(name), f"{reviewer}|{entry}|{page}", " ".join(where))
        pipe.expire(self.cards_key(name), RETENTION)
        pipe.execute()

    def cards(self, name: str, entry: str) -> list[tuple[str, int, str, str]]:
        """(reviewer, page, channel, ts) of every card about `entry`."""
        found = []
        for key, where in self.redis.hgetall(self.cards_key(name)).items():
            reviewer, card_entry, page = key.split("|")
            if card_entry == entry:
                channel, ts = where.split(" ")
                found.append((reviewer, int(page), channel, ts))
        return sorted(found)


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
