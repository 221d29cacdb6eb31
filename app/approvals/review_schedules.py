"""Access review campaigns on a schedule: the policy file's `reviews:` list.

    reviews:
      - name: quarterly-prod      # campaigns are named quarterly-prod-20260101, …
        every: 90d               # one campaign per period (periods counted from 1970-01-01 UTC)
        due: 14d                 # how long reviewers have
        tags: [prod]             # optional: only entries with one of these tags
        kinds: [password]        # optional: password, secret (default both)
        on_timeout: revoke       # keep | revoke | escalate (default keep)
        escalate_to: [U0SECLEAD] # with escalate: who is given the undecided lines at the due date
        remind_every: 2d         # reminders to reviewers with undecided lines (default 2d)

The list is validated when the policy is read, like its rules (`parse_reviews`): a bad entry
stops start-up, or keeps the rules in force on a reload, with one line naming the review and
the field. A period's campaign has a name made from the period (`Period.campaign`), so
starting it is "create this campaign if it does not exist", one atomic step in Redis that
exactly one process wins (see app.approvals.review_sweep).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from marshmallow import RAISE, Schema, fields, post_load, validate, validates_schema
from marshmallow import ValidationError as MarshmallowError

from app.foundations.durations import describe, parse_duration
from app.foundations.errors import ConfigError

#: The setting that names the policy file (app.approvals.policy.VARIABLE).
VARIABLE = "MYSAFE_BOT_POLICY"
DAY = 86400
DEFAULT_REMIND_EVERY = 2 * DAY
#: A schedule's name, with room for `-YYYYMMDD` within a campaign name's 64 characters.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
_USER = re.compile(r"^[UW][A-Z0-9]{2,20}$")
KINDS = ("password", "secret")


class OnTimeout(StrEnum):
    """What the due date does to lines nobody decided."""

    #: Kept, and recorded as "not reviewed, kept".
    KEEP = "keep"
    #: Removed through the engine, as a reviewer's removal would be.
    REVOKE = "revoke"
    #: Given to `escalate_to`, who get cards for them; the campaign runs on.
    ESCALATE = "escalate"


@dataclass(frozen=True)
class ReviewSchedule:
    name: str
    every: int
    due: int
    tags: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    on_timeout: OnTimeout = OnTimeout.KEEP
    escalate_to: tuple[str, ...] = ()
    remind_every: int = DEFAULT_REMIND_EVERY

    def summary(self) -> str:
        """One line for `mysafe-bot policy check`."""
        parts = [f"{self.name}: every {describe(self.every)}, due {describe(self.due)}"]
        parts += [f"tags [{', '.join(self.tags)}]"] if self.tags else []
        parts += [f"kinds [{', '.join(self.kinds)}]"] if self.kinds else []
        parts.append(f"reminders every {describe(self.remind_every)}")
        timeout = f"on timeout {self.on_timeout.value}"
        if self.escalate_to:
            timeout += f" to [{', '.join(self.escalate_to)}]"
        return "; ".join([*parts, timeout])

    def period(self, now: float) -> Period:
        """The period `now` falls in."""
        index = int(now // self.every)
        return Period(self, index * self.every)


@dataclass(frozen=True)
class Period:
    schedule: ReviewSchedule
    #: When the period began (epoch seconds, UTC).
    start: int

    @property
    def campaign(self) -> str:
        """The period's campaign name: periods are at least a day apart, so dates differ."""
        day = datetime.fromtimestamp(self.start, UTC).strftime("%Y%m%d")
        return f"{self.schedule.name}-{day}"


class _Duration(fields.Field):
    """`2h`, `14d`, `1d12h` (app.foundations.durations), within [low, high] seconds."""

    def __init__(self, *, low: int, high: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.low, self.high = low, high

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise MarshmallowError("expected a duration such as 12h, 14d or 90d")
        try:
            seconds = parse_duration(str(value))
        except ValueError as error:
            raise MarshmallowError(str(error)) from None
        if not self.low <= seconds <= self.high:
            raise MarshmallowError(f"expected between {_days(self.low)} and {_days(self.high)}")
        return seconds


def _days(seconds: int) -> str:
    return f"{seconds // DAY} day(s)" if seconds >= DAY else f"{seconds // 3600} hour(s)"


class _ScheduleSchema(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(
        required=True,
        validate=validate.Regexp(_NAME, error="expected letters, digits, '_', '-' (up to 40)"),
    )
    every = _Duration(low=DAY, high=366 * DAY, required=True)
    due = _Duration(low=3600, high=366 * DAY, required=True)
    tags = fields.List(
        fields.String(validate=validate.Length(min=1, max=100)), validate=validate.Length(max=100)
    )
    kinds = fields.List(fields.String(validate=validate.OneOf(KINDS)), validate=validate.Length(max=2))
    on_timeout = fields.String(validate=validate.OneOf([o.value for o in OnTimeout]))
    escalate_to = fields.List(
        fields.String(validate=validate.Regexp(_USER, error="expected a Slack user ID (U…/W…)")),
        validate=validate.Length(min=1, max=20),
    )
    remind_every = _Duration(low=3600, high=366 * DAY)

    @validates_schema
    def consistent(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("due", 0) > data.get("every", 0) > 0:
            raise MarshmallowError(
                "is longer than every: one period's campaign would still run at the next", "due"
            )
        escalating = data.get("on_timeout") == OnTimeout.ESCALATE
        if escalating and not data.get("escalate_to"):
            raise MarshmallowError(
                "on_timeout: escalate needs escalate_to (who decides the undecided lines)",
                "escalate_to",
            )
        if data.get("escalate_to") and not escalating:
            raise MarshmallowError("is only used with on_timeout: escalate", "escalate_to")

    @post_load
    def build(self, data: dict[str, Any], **_: Any) -> ReviewSchedule:
        return ReviewSchedule(
            name=data["name"],
            every=data["every"],
            due=data["due"],
            tags=tuple(data.get("tags") or ()),
            kinds=tuple(data.get("kinds") or ()),
            on_timeout=OnTimeout(data.get("on_timeout", OnTimeout.KEEP)),
            escalate_to=tuple(data.get("escalate_to") or ()),
            remind_every=data.get("remind_every", DEFAULT_REMIND_EVERY),
        )


def parse_reviews(raw: Any, *, origin: str) -> tuple[ReviewSchedule, ...]:
    """The policy file's `reviews:` (absent: none); one `ConfigError` naming the review and
    the field when bad."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > 50:
        raise ConfigError(VARIABLE, f"{origin}: reviews: expected a list of at most 50 reviews")
    found = []
    for position, item in enumerate(raw, start=1):
        label = _label(position, item)
        if not isinstance(item, dict):
            raise ConfigError(VARIABLE, f"{origin}: {label}: expected a mapping")
        try:
            found.append(_ScheduleSchema().load(item))
        except MarshmallowError as error:
            raise ConfigError(VARIABLE, f"{origin}: {label}: {_first(error.messages)}") from None
    _unique(found, raw, origin)
    return tuple(found)


def _label(position: int, item: Any) -> str:
    name = item.get("name") if isinstance(item, dict) else None
    return f"review {position}" + (f" “{name}”" if isinstance(name, str) else "")


def _unique(found: Sequence[ReviewSchedule], raw: Sequence[Any], origin: str) -> None:
    seen: set[str] = set()
    for position, schedule in enumerate(found, start=1):
        if schedule.name.casefold() in seen:
            raise ConfigError(
                VARIABLE,
                f"{origin}: {_label(position, raw[position - 1])}: name: used twice (each "
                "review needs its own name: it names its campaigns)",
            )
        seen.add(schedule.name.casefold())


def _first(messages: Any, path: tuple[str, ...] = ()) -> str:
    """marshmallow's nested messages as one `field: message` (the first; `_schema` last)."""
    if isinstance(messages, dict):
        key = sorted(messages, key=lambda k: (k == "_schema", str(k)))[0]
        inner = () if key == "_schema" or isinstance(key, int) else (str(key),)
        return _first(messages[key], path + inner)
    if isinstance(messages, list) and messages:
        return _first(messages[0], path)
    return f"{'.'.join(path) or 'review'}: {str(messages).rstrip('.')}"
