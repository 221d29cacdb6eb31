"""Break-glass: an on-call person's share applied at once, bounded, loud, reviewed, limited.

A policy rule with `break_glass:` lets `share … for 1h emergency` skip the approvers. The
engine runs the same submit and apply as for any `approvals: 0` request; `BreakGlass.admit`
adds the guards before anything is stored, each refusing with the reason (nothing applied):

- not from MCP; only under a rule that allows it; only a share, always for a period of at
  most the rule's `max_duration`; a password is always rotated at the end (`rotate-after`);
- the requester is on the rule's schedule **now**, asked live of PagerDuty or Opsgenie
  (app.oncall) and matched by e-mail; a check that fails or is slow refuses (fail closed);
- at most `MYSAFE_BOT_BREAK_GLASS_PER_DAY` openings per person per UTC day, counted in one
  script (two at once cannot both take the last one).

Once applied, a review is opened: the rule's approvers (never the requester) say whether it
was justified within `review_within`; `Reviewer` (app.approvals.break_glass_reviewer) records
the one verdict, ends the access at once when it was not (the revoke rotates a password), and
escalates an unanswered review to `escalate_to`, then every hour until answered.

What the listeners are told of an opening and of a verdict is owed until they all heard it:
each is marked in `owed` *before* it happens (the verdict's mark before its script runs), due
`CLAIM_LEASE` later, and unmarked once told. A listener that failed (Slack down) leaves it
marked, and the worker's sweep tells it again; the chat front remembers each message it got
out (its own bookkeeping: app.slack.break_glass), so a second telling sends only what the first
did not.

Redis layout (P = `MYSAFE_BOT_KEY_PREFIX`):

    P:req:{R-7K2QF}:review            hash  state (open | justified | not_justified), the
                                            deadline, the rule, its escalate_to, escalations
    P:{breakglass}:due                zset  request id -> next time to escalate its review
    P:{breakglass}:owed               zset  "R-7K2QF opened" | "R-7K2QF reviewed" -> when the
                                            sweep may tell it (again)
    P:{breakglass}:count:U…:YYYY-MM-DD  str   openings that day (expires after two days)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from app.approvals.changes import Change, Verb
from app.approvals.reminders import CLAIM_LEASE
from app.approvals.rules import BreakGlass as Allowance
from app.approvals.rules import Rule, source_name
from app.approvals.scripts import lua
from app.foundations.durations import describe
from app.foundations.errors import (
    OnCallUnavailable,
    ValidationError,
)
from app.foundations.storage import RedisClient
from app.mysafe.models import Kind
from app.oncall import OnCall

if TYPE_CHECKING:
    from app.approvals.change_request import ChangeRequest

log = logging.getLogger(__name__)

#: An unanswered review is escalated again this often, until someone answers.
ESCALATE_EVERY = 3600
#: Reviews are kept this long past their deadline, for the record.
RETENTION = 30 * 86400


class ReviewEvent(StrEnum):
    """The news of a break-glass review, one `ReviewListener` method each; stored by value in
    the owed set (`<request id> <event>`), so the values never change."""

    OPENED = "opened"
    ESCALATED = "escalated"
    REVIEWED = "reviewed"


#: Events the listeners must hear, told again by the sweep until they have.
OWED = (ReviewEvent.OPENED, ReviewEvent.REVIEWED)
MCP_REFUSED = (
    "break-glass is never opened by an AI assistant: the on-call person asks in Slack "
    '(share … for 1h emergency reason "…") or through the incident tool\'s webhook'
)
FIELD = "emergency"

#: Who is on call on a schedule now (app.oncall.OnCallClient.on_call).
OnCallCheck = Callable[[str], OnCall]
#: A person's e-mail as the chat knows it (Slack's users.info), or None.
EmailOf = Callable[[str], str | None]


class ReviewListener(Protocol):
    """Told of a break-glass review, one method per kind of news; raising leaves what is owed
    (`OWED`) owed, and the sweep tells it again."""

    def opened(self, request: ChangeRequest, review: Review) -> None:
        """The share was applied and its review opened: be loud."""

    def escalated(self, request: ChangeRequest, review: Review) -> None:
        """Nobody reviewed it in time: tell the rule's `escalate_to`."""

    def reviewed(self, request: ChangeRequest, review: Review) -> None:
        """The one verdict was given."""


class EveryReviewChange:
    """A `ReviewListener` that treats every kind of news alike: `changed(request, review,
    event)`."""

    def changed(self, request: ChangeRequest, review: Review, event: ReviewEvent) -> None:
        """Nothing, unless a subclass says."""

    def opened(self, request: ChangeRequest, review: Review) -> None:
        self.changed(request, review, ReviewEvent.OPENED)

    def escalated(self, request: ChangeRequest, review: Review) -> None:
        self.changed(request, review, ReviewEvent.ESCALATED)

    def reviewed(self, request: ChangeRequest, review: Review) -> None:
        self.changed(request, review, ReviewEvent.REVIEWED)


def _hear(listener: ReviewListener, request: ChangeRequest, review: Review, event: ReviewEvent) -> None:
    """Tell `listener` the news `event` names, by its method for that kind of news."""
    {
        ReviewEvent.OPENED: listener.opened,
        ReviewEvent.ESCALATED: listener.escalated,
        ReviewEvent.REVIEWED: listener.reviewed,
    }[event](request, review)


def refuse(message: str) -> ValidationError:
    return ValidationError({FIELD: message})


@dataclass(frozen=True)
class Evidence:
    """Why the bot let it through: who the schedule had on call, and when it asked."""

    provider: str
    schedule: str
    on_call: tuple[str, ...]
    matched: str
    checked: float
    rule: str
    count: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "schedule": self.schedule,
            "on_call": list(self.on_call),
            "matched": self.matched,
            "checked": self.checked,
            "rule": self.rule,
            "count": self.count,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Evidence:
        return cls(
            provider=str(data["provider"]),
            schedule=str(data["schedule"]),
            on_call=tuple(data.get("on_call") or ()),
            matched=str(data.get("matched", "")),
            checked=float(data["checked"]),
            rule=str(data.get("rule", "")),
            count=int(data.get("count") or 0),
        )


@dataclass(frozen=True)
class Review:
    """One break-glass review, as its record holds it."""

    request_id: str
    state: str
    deadline: float
    rule: str
    escalate_to: tuple[str, ...]
    notify: tuple[str, ...]
    escalations: int = 0
    by: str = ""
    at: float = 0.0

    @property
    def open(self) -> bool:
        return self.state == "open"

    @classmethod
    def from_redis(cls, request_id: str, data: Mapping[str, str]) -> Review:
        return cls(
            request_id=request_id,
            state=data["state"],
            deadline=float(data["deadline"]),
            rule=data.get("rule", ""),
            escalate_to=tuple(json.loads(data.get("escalate_to") or "[]")),
            notify=tuple(json.loads(data.get("notify") or "[]")),
            escalations=int(data.get("escalations") or 0),
            by=data.get("by", ""),
            at=float(data.get("at") or 0),
        )


class BreakGlass:
    """The guards at submission and the review records (the engine's part; no chat here)."""

    def __init__(
        self,
        redis: RedisClient,
        *,
        prefix: str,
        per_day: int,
        on_call: OnCallCheck | None,
        people: Mapping[str, str],
        email_of: EmailOf | None = None,
        listeners: Collection[ReviewListener] = (),
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.per_day = per_day
        self.on_call = on_call
        #: Slack ID -> on-call e-mail, from MYSAFE_BOT_ON_CALL_PEOPLE.
        self.people = dict(people)
        #: Given by the assembly when a chat front can say a person's e-mail (app.ops.runtime).
        self.email_of = email_of
        #: Told of each review opened, escalated and decided (the chat front's notices; a
        #: `Hub` the assembly fills, as they are built over the engine).
        self.listeners = listeners
        self.due_key = f"{prefix}:{{breakglass}}:due"
        self.owed_key = f"{prefix}:{{breakglass}}:owed"
        self._count = redis.register_script(lua("break_glass_count"))
        self._verdict = redis.register_script(lua("break_glass_review"))
        self._claim = redis.register_script(lua("claim_due"))

    # --- the guards ------------------------------------------------------------------------

    def admit(
        self, change: Change, rule: Rule, *, requester: str, source: str, reason: str
    ) -> tuple[Change, Evidence]:
        """The change as break-glass applies it (a password rotated at the end), and the
        on-call evidence; `ValidationError` naming the guard that refused, nothing stored."""
        if source_name(source) == "mcp":
            raise refuse(MCP_REFUSED)
        if not reason.strip():
            raise refuse('break-glass needs a reason security can read: add reason "INC-123 …"')
        allowance = rule.break_glass
        if allowance is None:
            raise refuse(
                f"the policy rule “{rule.name}” does not allow break-glass for this change: "
                "ask for an approval instead (leave out emergency)"
            )
        self._check_bounded(change, allowance)
        if change.kind is Kind.PASSWORD:
            change = replace(change, rotate_after=True)
        return change, self._check_on_call(requester, allowance, rule)

    @staticmethod
    def _check_bounded(change: Change, allowance: Allowance) -> None:
        longest = describe(allowance.max_duration)
        if change.verb is not Verb.SHARE or change.extends:
            raise refuse("only a new share can be break-glass")
        if not change.duration:
            raise refuse(f"break-glass is always for a period: add for 1h (at most {longest})")
        if change.duration > allowance.max_duration:
            raise refuse(f"break-glass under this rule lasts at most {longest}")

    def _check_on_call(self, requester: str, allowance: Allowance, rule: Rule) -> Evidence:
        if self.on_call is None:
            raise refuse(
                "no on-call provider is set up (MYSAFE_BOT_ON_CALL_PROVIDER), so nobody can be "
                "checked to be on call: break-glass is refused"
            )
        emails = self.emails(requester)
        if not emails:
            raise refuse(
                "the bot cannot tell your e-mail to match you with the on-call schedule: "
                "break-glass is refused (an admin can add you to MYSAFE_BOT_ON_CALL_PEOPLE)"
            )
        try:
            answer = self.on_call(allowance.on_call)
        except OnCallUnavailable as error:
            log.warning(
                "on-call check failed; break-glass refused",
                extra={"event": "break_glass.check_failed", "schedule": allowance.on_call},
            )
            raise refuse(f"the on-call check failed ({error}), so nothing was applied") from error
        matched = sorted(emails & answer.people)
        if not matched:
            raise refuse(
                f"you are not on call on schedule {allowance.on_call} now, so nothing was applied"
            )
        return Evidence(
            provider=answer.provider,
            schedule=answer.schedule,
            on_call=tuple(sorted(answer.people)),
            matched=matched[0],
            checked=answer.checked,
            rule=rule.name,
        )

    def emails(self, slack_id: str) -> set[str]:
        found = {self.people[slack_id]} if slack_id in self.people else set()
        email = self.email_of(slack_id) if self.email_of is not None else None
        return found | ({email.casefold()} if email else set())

    def count(self, requester: str, evidence: Evidence, *, now: float) -> Evidence:
        """Take one of the person's openings for today (one script), or refuse."""
        day = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
        key = f"{self.prefix}:{{breakglass}}:count:{requester}:{day}"
        count = int(self._count(keys=[key], args=[self.per_day, 2 * 86400]))
        if count < 0:
            raise refuse(
                f"you already opened break-glass {self.per_day} time(s) today (UTC), the most "
                "allowed: ask an approver instead"
            )
        return replace(evidence, count=count)

    # --- reviews ---------------------------------------------------------------------------

    def review_key(self, request_id: str) -> str:
        return f"{self.prefix}:req:{{{request_id}}}:review"

    def open_review(self, request_id: str, allowance: Allowance, rule: Rule, *, now: float) -> Review:
        """The review the rule's approvers owe, due by `review_within`, then escalated."""
        deadline = now + allowance.review_within
        key = self.review_key(request_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(
            key,
            mapping={
                "state": "open",
                "deadline": repr(deadline),
                "rule": rule.name,
                "escalate_to": json.dumps(list(allowance.escalate_to or rule.escalate_to)),
                "notify": json.dumps(list(allowance.notify)),
                "escalations": "0",
            },
        )
        pipe.expireat(key, int(deadline + RETENTION))
        pipe.zadd(self.due_key, {request_id: deadline})
        self._owe(request_id, ReviewEvent.OPENED, now=now, pipe=pipe)
        pipe.execute()
        review = self.review(request_id)
        assert review is not None
        return review

    def review(self, request_id: str) -> Review | None:
        data = self.redis.hgetall(self.review_key(request_id))
        return Review.from_redis(request_id, data) if data else None

    def give_verdict(self, request_id: str, verdict: str, *, by: str, now: float) -> str:
        """The one verdict ('ok'), or the state that refused it. Its telling is owed from
        before the script runs: a process dying right after leaves it to the sweep."""
        self._owe(request_id, ReviewEvent.REVIEWED, now=now)
        status = str(self._verdict(keys=[self.review_key(request_id)], args=[verdict, by, repr(now)]))
        if status == "ok":
            self.redis.zrem(self.due_key, request_id)
        return status

    # --- what the listeners are owed ----------------------------------------------------------

    def _owe(self, request_id: str, event: ReviewEvent, *, now: float, pipe: Any = None) -> None:
        """Mark `event` owed, due to the sweep a lease from now (the teller tries first)."""
        member = f"{request_id} {event}"
        (pipe if pipe is not None else self.redis).zadd(self.owed_key, {member: now + CLAIM_LEASE})

    def claim_owed(self, now: float, *, limit: int = 100) -> list[tuple[str, ReviewEvent]]:
        """(request id, event) of each telling due again, claimed for a lease."""
        claimed = self._claim(keys=[self.owed_key], args=[now, CLAIM_LEASE, limit])
        owed = (str(member).partition(" ") for member in claimed)
        return [(request_id, ReviewEvent(event)) for request_id, _, event in owed]

    def forget(self, request_id: str, event: ReviewEvent) -> None:
        self.redis.zrem(self.owed_key, f"{request_id} {event}")

    def claim_due(self, now: float, *, limit: int = 100) -> list[str]:
        return [str(m) for m in self._claim(keys=[self.due_key], args=[now, CLAIM_LEASE, limit])]

    def escalated(self, request_id: str, *, now: float) -> None:
        """Counted; the next escalation is due in an hour (unless answered before)."""
        self.redis.hincrby(self.review_key(request_id), "escalations", 1)
        self.redis.zadd(self.due_key, {request_id: now + ESCALATE_EVERY}, xx=True)

    def drop(self, request_id: str) -> None:
        self.redis.zrem(self.due_key, request_id)

    def tell(self, request: ChangeRequest, review: Review, event: ReviewEvent) -> bool:
        """Every listener hears it; a failing one never undoes what happened. True if all did:
        then an owed event is no longer owed (else the sweep tells it again)."""
        heard = True
        for listener in self.listeners:
            try:
                _hear(listener, request, review, event)
            except Exception:  # noqa: BLE001 - Slack away must not undo a verdict; the sweep retries
                log.exception(
                    "break-glass listener failed",
                    extra={"event": "listener.error", "request": request.id, "what": event},
                )
                heard = False
        if heard and event in OWED:
            self.forget(request.id, event)
        return heard
