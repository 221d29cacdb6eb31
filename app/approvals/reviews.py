"""Access review campaigns in Redis: what each campaign asks about, and what was decided.

A campaign is a fixed list of *lines* made at its start, one per (entry, user or group with
access), each with the reviewers who may decide it (the people who can edit the entry and have
linked their key). Each line gets at most one decision, taken atomically
(`review_decide.lua`): two reviewers clicking the same line at once get one decision, and the
second is told whose it is.

Redis layout (P = `MYSAFE_BOT_KEY_PREFIX`), a campaign's keys on its own hash tag:

    P:review:{Q1}:campaign    hash  name, state (starting | running | cancelled | ended),
                                    started, due, started_by, tags, kinds, on_timeout,
                                    escalate_to, remind_every, schedule, cards_done, escalated
    P:review:{Q1}:lines       hash  line id (`password:312:users_allowed:carol`) -> `Line`
    P:review:{Q1}:decisions   hash  line id -> `Decided` (keep or remove, who, when): set once
    P:review:{Q1}:outcomes    hash  line id -> a removal's request id and its verified result
    P:review:{Q1}:cards       hash  "reviewer|password:312|page" -> "channel ts" of a DM card
    P:review:{Q1}:open        hash  the index of undecided lines per reviewer: "U1" -> lines,
                                    "U1#" -> entries, "U1|password:312" -> lines on that entry
                                    (kept by the decide and undo scripts, so the App Home and
                                    the reminders read counts, never the lines)
    P:review:{Q1}:reminded:U1:3     string  set NX when reminder interval 3 reminds U1
    P:idx:reviews             set   campaign names
    P:idx:reviews:removals    hash  line id -> campaign: where a removal's outcome goes,
                                    written before its request is filed

A campaign is made in two atomic steps (see `begin` and `fill`): its hash alone, *starting*;
then its lines, its index and the state *running* in one MULTI on its hash tag. A start that
dies between them leaves a *starting* campaign that its durable job finishes
(app.approvals.review_sweep), never a running campaign with half its lines.

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
    #: Made, its lines not yet read (its start job runs).
    STARTING = "starting"
    RUNNING = "running"
    CANCELLED = "cancelled"
    #: Past its due date, undecided lines kept or revoked (`on_timeout`).
    ENDED = "ended"


#: `Decided.by` of a line the due date decided (`on_timeout: keep | revoke`).
TIMEOUT = "timeout"
#: A starting campaign's hash lives this long, so one whose job is lost goes (seconds).
STARTING_TTL = 7 * 86400
#: Lines written to Redis per command when a campaign is filled.
FILL_CHUNK = 1000


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
        self._begin = redis.register_script(lua("review_begin"))
        self._fill = redis.register_script(lua("review_fill"))
        self._state = redis.register_script(lua("review_state"))

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

    def open_key(self, name: str) -> str:
        return self._key(name, "open")

    def reminded_key(self, name: str, reviewer: str, interval: int) -> str:
        return self._key(name, f"reminded:{reviewer}:{interval}")

    def index_key(self) -> str:
        return f"{self.prefix}:idx:reviews"

    def removals_key(self) -> str:
        return f"{self.prefix}:idx:reviews:removals"

    # --- campaigns ----------------------------------------------------------------------------

    def begin(self, campaign: Campaign) -> bool:
        """Make a *starting* campaign (its hash only); False (nothing written) if the name is
        taken. One script: of several processes starting one name, exactly one wins."""
        self.redis.sadd(self.index_key(), campaign.name)  # a name without a hash is skipped
        made = self._begin(
            keys=[self.campaign_key(campaign.name)],
            args=[STARTING_TTL, *[v for pair in campaign.to_redis().items() for v in pair]],
        )
        return bool(made)

    def fill(
        self, campaign: Campaign, lines: Sequence[Line], counted: Mapping[str, Sequence[str]]
    ) -> bool:
        """A starting campaign's lines, its index of undecided lines and the state *running*:
        written beside, then moved into place in one script (a start that dies before leaves
        it starting, never half-filled); False if it was not starting."""
        name = campaign.name
        staged_lines, staged_open = self._key(name, "lines:new"), self._key(name, "open:new")
        self.redis.delete(staged_lines, staged_open)
        for chunk in range(0, len(lines), FILL_CHUNK):
            part = lines[chunk : chunk + FILL_CHUNK]
            self.redis.hset(staged_lines, mapping={ln.id: ln.dumps() for ln in part})
        index = open_index(lines, counted)
        if index:
            self.redis.hset(staged_open, mapping=index)
        for staged in (staged_lines, staged_open):  # a start that dies here leaves no litter
            self.redis.expire(staged, STARTING_TTL)
        keys = [self.campaign_key(name), staged_lines, self.lines_key(name), staged_open]
        return bool(self._fill(keys=[*keys, self.open_key(name)], args=[campaign.ttl]))

    def create(
        self, campaign: Campaign, lines: Sequence[Line], counted: Mapping[str, Sequence[str]]
    ) -> bool:
        """Begin and fill at once (a campaign made in this process, e.g. by a test or the
        benchmark); False if the name is taken."""
        starting = replace(campaign, state=CampaignState.STARTING)
        return self.begin(starting) and self.fill(starting, lines, counted)

    def mark(self, name: str, **fields: str) -> None:
        """Set facts on a campaign (`cards_done`, `escalated`, the state ended)."""
        self.redis.hset(self.campaign_key(name), mapping=fields)

    def flag(self, name: str, field: str) -> str | None:
        return self.redis.hget(self.campaign_key(name), field)

    def campaign(self, name: str) -> Campaign | None:
        data = self.redis.hgetall(self.campaign_key(name))
        return Campaign.from_redis(data) if data.get("state") else None

    def names(self) -> list[str]:
        return sorted(self.redis.smembers(self.index_key()))

    def cancel(self, name: str) -> bool:
        """Stop taking decisions (or a start not yet done); True if it was starting or running."""
        return self.end(name, CampaignState.CANCELLED)

    def end(self, name: str, state: CampaignState) -> bool:
        """Move a starting or running campaign to `state`, in one script."""
        moved = self._state(
            keys=[self.campaign_key(name)],
            args=[state.value, CampaignState.RUNNING.value, CampaignState.STARTING.value],
        )
        return bool(moved)

    def waiting(self, name: str, reviewer: str) -> tuple[int, int]:
        """(lines, entries) `reviewer` has still to decide in `name`, from the index."""
        lines, entries = self.redis.hmget(self.open_key(name), [reviewer, f"{reviewer}#"])
        return int(lines or 0), int(entries or 0)

    def open_reviewers(self, name: str) -> dict[str, int]:
        """Every reviewer with undecided lines in `name`, and how many."""
        found = self.redis.hgetall(self.open_key(name))
        return {k: int(v) for k, v in found.items() if "|" not in k and "#" not in k and int(v) > 0}

    def add_reviewer(self, name: str, lines: Sequence[Line], reviewer: str) -> None:
        """Give `lines` (undecided) one more reviewer, and count them in the index (one MULTI
        on the campaign's hash tag)."""
        fresh = [ln for ln in lines if reviewer not in ln.reviewers]
        pipe = self.redis.pipeline(transaction=True)
        if fresh:
            pipe.hset(
                self.lines_key(name),
                mapping={
                    ln.id: replace(ln, reviewers=(*ln.reviewers, reviewer)).dumps() for ln in fresh
                },
            )
        for field, count in open_index(fresh, {ln.id: [reviewer] for ln in fresh}).items():
            pipe.hincrby(self.open_key(name), field, count)
        pipe.execute()

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
        return _merged(found, self.redis.hgetall(self.outcomes_key(name)))

    def decisions_of(self, name: str, lines: Sequence[str]) -> dict[str, Decided]:
        """`decisions`, of these lines only (a click reads its entry's, not the campaign's)."""
        if not lines:
            return {}
        found = self.redis.hmget(self.decisions_key(name), lines)
        filed = self.redis.hmget(self.outcomes_key(name), lines)
        return _merged(
            {k: v for k, v in zip(lines, found, strict=True) if v},
            {k: v for k, v in zip(lines, filed, strict=True) if v},
        )

    def entry_lines(self, name: str, entry: str) -> list[Line]:
        """The lines of one entry (`password:312`), found by their ids' prefix in Redis."""
        match = f"{entry}:*"  # kinds and numbers: no glob character to escape
        found = [
            Line.loads(text)
            for _, text in self.redis.hscan_iter(self.lines_key(name), match=match, count=1000)
        ]
        return sorted(found, key=lambda ln: (ln.field, ln.name))

    def decide(self, name: str, line: Line, decided: Decided, counted: Sequence[str]) -> Claim:
        """Claim `line` for `decided`, and count it decided for the `counted` reviewers."""
        status, earlier = self._decide(
            keys=[self.campaign_key(name), self.decisions_key(name), self.open_key(name)],
            args=[line.id, decided.dumps(), line.entry, *counted],
        )
        if status == "taken":
            return Claim(status, Decided.loads(earlier))
        if status == "ok":
            self.redis.expire(self.decisions_key(name), RETENTION)
        return Claim(status)

    def undo(self, name: str, line: Line, decided: Decided, counted: Sequence[str]) -> None:
        self._undo(
            keys=[self.decisions_key(name), self.open_key(name)],
            args=[line.id, decided.dumps(), line.entry, *counted],
        )

    def remind_once(self, name: str, reviewer: str, interval: int, ttl: int) -> bool:
        """True the first time `reviewer` is reminded in reminder interval `interval`."""
        return bool(self.redis.set(self.reminded_key(name, reviewer, interval), "1", nx=True, ex=ttl))

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

    def card_keys(self, name: str) -> set[str]:
        """ "reviewer|entry|page" of every card sent."""
        return set(self.redis.hkeys(self.cards_key(name)))

    def cards(self, name: str, entry: str) -> list[tuple[str, int, str, str]]:
        """(reviewer, page, channel, ts) of every card about `entry`."""
        found = []
        for key, where in self.redis.hgetall(self.cards_key(name)).items():
            reviewer, card_entry, page = key.split("|")
            if card_entry == entry:
                channel, ts = where.split(" ")
                found.append((reviewer, int(page), channel, ts))
        return sorted(found)


def _merged(found: Mapping[str, str], outcomes: Mapping[str, str]) -> dict[str, Decided]:
    """Decisions (JSON) with the removals' requests and outcomes filed beside them."""
    decided = {k: Decided.loads(v) for k, v in found.items()}
    for key, text in outcomes.items():
        filed = json.loads(text)
        if key in decided:
            decided[key] = replace(
                decided[key], request=filed["request"], result=filed["result"] or "pending"
            )
    return decided


def open_index(lines: Iterable[Line], counted: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """The index's fields for undecided `lines`: per reviewer (`counted[line id]`, those who
    may decide it) lines, entries, and lines per entry."""
    index: dict[str, int] = {}
    for line in lines:
        for reviewer in counted.get(line.id, ()):
            index[reviewer] = index.get(reviewer, 0) + 1
            per_entry = f"{reviewer}|{line.entry}"
            index[per_entry] = index.get(per_entry, 0) + 1
            if index[per_entry] == 1:
                index[f"{reviewer}#"] = index.get(f"{reviewer}#", 0) + 1
    return index


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
