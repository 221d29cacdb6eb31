"""The approval policy's rules: which rule a change meets, and what that rule asks for.

A `Policy` is rules tried in order; the first whose `Match` fits the `Subject` (the change, its
entry, who asks and through what) wins. A rule says how many approvals the change needs (0:
applied at once, audited), who may give them, where the request is posted, whether a reason or
a ticket must come with it, the longest time-bound share, when to remind and to whom to
escalate. Read from the file by app.approvals.policy_file; held and reloaded by
app.approvals.policy.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.approvals.review_schedules import ReviewSchedule
from app.foundations.durations import describe
from app.foundations.errors import ValidationError
from app.foundations.settings import NamesApprovers
from app.i18n import _

if TYPE_CHECKING:
    from app.foundations.settings import Settings

#: What `step_up` may ask for: a passkey (WebAuthn) today.
STEP_UP_METHODS = ("passkey",)
DEFAULT_STEP_UP_MAX_AGE = 300


def source_name(source: str) -> str:
    """The front a stored request came through, as rules name it (tickets come by webhook)."""
    return "webhook" if source == "ticket" else source


@dataclass(frozen=True)
class Subject:
    """What a rule is matched against: the change, its entry and who asks, through what."""

    verb: str
    kind: str
    source: str
    #: The entry's tags (casefolded), as MySafe holds them (or as a create sets them).
    tags: frozenset[str] = frozenset()
    #: Who asks: their Slack ID and, when known, their MySafe username (casefolded).
    requester: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Match:
    """Each set, when not empty, must meet the subject; an empty one matches anything."""

    tags: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()
    verbs: frozenset[str] = frozenset()
    owners: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()

    def test(self, subject: Subject) -> tuple[bool, list[str]]:
        """Whether the subject fits, and a line per condition saying why (or why not)."""
        checks = (
            ("tags", self.tags, subject.tags),
            ("kind", self.kinds, {subject.kind}),
            ("verb", self.verbs, {subject.verb}),
            ("owner", self.owners, subject.requester),
            ("source", self.sources, {source_name(subject.source)}),
        )
        why: list[str] = []
        for label, wanted, have in checks:
            if not wanted:
                continue
            shown = ", ".join(sorted(have)) or "none"
            if not wanted & set(have):
                return False, [*why, f"{label} {shown} is not one of {_listed(wanted)}"]
            why.append(f"{label} {shown} is one of {_listed(wanted)}")
        return True, why or ["matches everything (no conditions)"]


def _listed(values: Iterable[str]) -> str:
    return "[" + ", ".join(sorted(values)) + "]"


@dataclass(frozen=True)
class BreakGlass:
    """A rule's permission for on-call people to apply a share at once (app.approvals.break_glass)."""

    #: Longest break-glass share, seconds.
    max_duration: int
    #: The on-call schedule (PagerDuty or Opsgenie ID) the requester must be on now.
    on_call: str
    #: Seconds the rule's approvers have to say whether it was justified.
    review_within: int
    #: Channels told at once, beside the rule's channel.
    notify: tuple[str, ...] = ()
    #: Who hears of a review unanswered by its deadline, then every hour (else the rule's).
    escalate_to: tuple[str, ...] = ()

    def summary(self) -> str:
        return (
            f"break-glass up to {describe(self.max_duration)} for on-call {self.on_call}, "
            f"reviewed within {describe(self.review_within)}"
        )


@dataclass(frozen=True)
class Rule(NamesApprovers):
    name: str
    approvals: int
    approvers: frozenset[str]
    channel: str
    match: Match = field(default_factory=Match)
    reason_required: bool = False
    ticket_required: bool = False
    #: Longest time-bound share, seconds (None: the settings' maximum).
    max_duration: int | None = None
    remind_after: int | None = None
    escalate_after: int | None = None
    escalate_to: tuple[str, ...] = ()
    #: `passkey`: an approver's click counts only once they confirm it with a passkey on the
    #: bot's page, within `step_up_max_age` seconds of the click (see app.approvals.stepup).
    step_up: str = ""
    step_up_max_age: int = DEFAULT_STEP_UP_MAX_AGE
    break_glass: BreakGlass | None = None

    def refuse_missing(self, *, reason: str, ticket: Mapping[str, str] | None) -> None:
        """What the rule requires at submission; `ValidationError` (nothing stored) if absent."""
        if self.reason_required and not reason.strip():
            raise ValidationError(
                {
                    "reason": _(
                        'the policy rule “{rule}” requires a reason: add reason "why you need this"'
                    ).format(rule=self.name)
                }
            )
        if self.ticket_required and not (ticket or {}).get("key"):
            raise ValidationError(
                {
                    "ticket": _(
                        "the policy rule “{rule}” requires a ticket: add ticket KEY (e.g. ticket "
                        "SEC-142)"
                    ).format(rule=self.name)
                }
            )

    def refuse_duration(self, seconds: int | None) -> None:
        """A time-bound share longer than the rule allows is refused (nothing stored)."""
        if seconds is not None and self.max_duration is not None and seconds > self.max_duration:
            raise ValidationError(
                {
                    "for": _("the policy rule “{rule}” allows at most {most}").format(
                        rule=self.name, most=describe(self.max_duration)
                    )
                }
            )

    def summary(self) -> str:
        needs = (
            "no approval (applied at once, audited)"
            if self.approvals == 0
            else f"{self.approvals} approval(s) from {_listed(self.approvers)}"
        )
        parts = [needs, f"posted in {self.channel}"]
        parts += ["reason required"] if self.reason_required else []
        parts += ["ticket required"] if self.ticket_required else []
        for label, value in (
            ("longest share", self.max_duration),
            ("reminder after", self.remind_after),
            ("escalation after", self.escalate_after),
        ):
            if value is not None:
                parts.append(f"{label} {describe(value)}")
        if self.escalate_to:
            parts.append(f"escalated to {_listed(self.escalate_to)}")
        if self.step_up:
            parts.append(
                f"each approval confirmed with a {self.step_up} within {describe(self.step_up_max_age)}"
            )
        if self.break_glass is not None:
            parts.append(self.break_glass.summary())
        return "; ".join(parts)


@dataclass(frozen=True)
class Choice:
    """The rule a subject meets, and why: a line for each rule tried."""

    rule: Rule
    position: int
    why: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...]
    #: The file's `version:` (0: none given). Only a higher version takes over as the rules in
    #: force across the deployment (app.approvals.in_force).
    version: int = 0
    #: Access review campaigns on a schedule, the file's `reviews:` (app.approvals.review_schedules).
    reviews: tuple[ReviewSchedule, ...] = ()

    @functools.cached_property
    def digest(self) -> str:
        """`sha256:…` of the rules as this process applies them (the settings' defaults filled
        in, the built-in last rule included) and the version: equal digests decide alike.
        Worked out once per policy (every field is immutable): each request's submit and each
        decision checks it against the rules in force."""
        rules = [dataclasses.asdict(rule) for rule in self.rules]
        document: dict[str, Any] = {"version": self.version, "rules": rules}
        if self.reviews:
            document["reviews"] = [dataclasses.asdict(r) for r in self.reviews]
        canonical = json.dumps(document, sort_keys=True, default=sorted)
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()

    def choose(self, subject: Subject) -> Choice:
        """The first rule that matches (the last rule always does: see `with_fallback`)."""
        why: list[str] = []
        for position, rule in enumerate(self.rules, start=1):
            matched, lines = rule.match.test(subject)
            if matched:
                why += [f"rule {position} “{rule.name}” matches: {line}" for line in lines]
                return Choice(rule, position, tuple(why))
            why += [f"rule {position} “{rule.name}” skipped: {lines[-1]}"]
        raise AssertionError("a policy always ends with a rule that matches everything")

    def rule(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)


@dataclass(frozen=True)
class Defaults:
    """What a rule leaves out, from the settings."""

    approvals: int
    approvers: frozenset[str]
    channel: str

    @classmethod
    def of(cls, settings: Settings) -> Defaults:
        return cls(settings.approvals_required, settings.approvers, settings.approval_channel)

    def rule(self, name: str) -> Rule:
        return Rule(name=name, approvals=self.approvals, approvers=self.approvers, channel=self.channel)


def default_policy(defaults: Defaults) -> Policy:
    """No policy file: the settings are the single rule, exactly as before policies."""
    return Policy((defaults.rule("default"),))
