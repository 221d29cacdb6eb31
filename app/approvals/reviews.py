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
    P:review:{Q1}:open        hash  the index of undecided lines per reviewer: "U1" -> lines,
                                    "U1#" -> entries, "U1|password:312" -> lines on that entry
                                    (kept by the decide and undo scripts, so the App Home and
                                    the reminders read counts, never the lines)
    P:review:{Q1}:reminded:U1:3     string  set NX when reminder interval 3 reminds U1
    P:review:{Q1}:gone        hash  reviewer whose MySafe key no longer works -> why
                                    (`key_rejected` | `key_unlinked` | `key_unreadable`), set once
    P:review:{Q1}:gone:told   set   those of them whose escalation was sent (cards and notice)
    P:review:{Q1}:escalated   set   line ids given to `escalate_to` (at the due date, or at
                                    once: their reviewer left Slack or their key stopped working)
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
from dataclasses import dataclass, replace

from app.approvals.review_records import RETENTION, Campaign, CampaignState, Decided, Line
from app.approvals.scripts import lua
from app.foundations.storage import RedisClient

#: A starting campaign's hash lives this long, so one whose job is lost goes (seconds).
STARTING_TTL = 7 * 86400
#: Lines written to Redis per command when a campaign is filled.
FILL_CHUNK = 1000


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

    def open_key(self, name: str) -> str:
        return self._key(name, "open")

    def reminded_key(self, name: str, reviewer: str, interval: int) -> str:
        return self._key(name, f"reminded:{reviewer}:{interval}")

    def gone_key(self, name: str) -> str:
        return self._key(name, "gone")

    def told_key(self, name: str) -> str:
        return self._key(name, "gone:told")

    def escalated_key(self, name: str) -> str:
        return self._key(name, "escalated")

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
        """Give `lines` (undecided) one more reviewer (an escalation target), count them in the
        index and among the escalated lines (one MULTI on the campaign's hash tag)."""
        fresh = [ln for ln in lines if reviewer not in ln.reviewers]
        pipe = self.redis.pipeline(transaction=True)
        if lines:
            pipe.sadd(self.escalated_key(name), *[ln.id for ln in lines])
            pipe.expire(self.escalated_key(name), RETENTION)
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

    def escalated(self, name: str) -> int:
        """How many lines were given to `escalate_to`, whenever and however often."""
        return int(self.redis.scard(self.escalated_key(name)))

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

    # --- reviewers whose key no longer works --------------------------------------------------

    def key_gone(self, name: str, reviewer: str, why: str, *, ttl: int = RETENTION) -> bool:
        """Record that `reviewer`'s MySafe key no longer works; True the first time only (so
        their escalation is made once, however often they click)."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hsetnx(self.gone_key(name), reviewer, why)
        pipe.expire(self.gone_key(name), ttl)
        return bool(pipe.execute()[0])

    def gone(self, name: str) -> dict[str, str]:
        """Every reviewer of `name` whose key no longer works, and why."""
        return dict(self.redis.hgetall(self.gone_key(name)))

    def untold(self, name: str) -> dict[str, str]:
        """Those of `gone` whose escalation has not been sent yet."""
        told = self.redis.smembers(self.told_key(name))
        return {r: why for r, why in self.gone(name).items() if r not in told}

    def tell_once(self, name: str, reviewer: str) -> bool:
        """Claim the sending of `reviewer`'s escalation; True for one caller only."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.sadd(self.told_key(name), reviewer)
        pipe.expire(self.told_key(name), RETENTION)
        return bool(pipe.execute()[0])


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
