"""The approval policy: which rule a change meets, and what that rule asks for.

`MYSAFE_BOT_POLICY` names a YAML file of rules, tried in order; the first whose `match` fits
the change wins. A rule says how many approvals the change needs (0: applied at once, audited),
who may give them, where the request is posted, whether a reason or a ticket must come with
it, the longest time-bound share, and when to remind and to whom to escalate. Without a file,
the settings (`MYSAFE_BOT_APPROVERS`, `MYSAFE_BOT_APPROVALS_REQUIRED`, the approvals channel)
are the one rule, named `default`; with a file, the same rule (named `settings`) follows the
file's rules, so a change no rule matches is still approved exactly as before.

The file is validated with marshmallow when the settings are read: a bad file stops start-up
with one line naming the rule and the field. `PolicyBook` holds the rules a process uses and
swaps them on SIGHUP; a bad file then keeps the rules in force and logs one error line.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from marshmallow import (
    RAISE,
    Schema,
    fields,
    post_load,
    validate,
    validates_schema,
)
from marshmallow import ValidationError as MarshmallowError

from app.approvals.changes import Verb
from app.durations import describe, parse_duration
from app.errors import ConfigError, ValidationError
from app.i18n import _
from app.settings import NamesApprovers

if TYPE_CHECKING:
    from app.approvals.audit import Audit
    from app.settings import Settings

log = logging.getLogger(__name__)

VARIABLE = "MYSAFE_BOT_POLICY"
#: The fronts a request can come through, as a rule names them.
SOURCES = ("slack", "webhook", "mcp", "review")
KINDS = ("password", "secret")
#: Every verb the engine knows, so a rule may name any of them and nothing else.
VERBS = tuple(verb.value for verb in Verb)
#: A policy file is a page of rules, never megabytes.
MAX_FILE = 256 * 1024
_APPROVER = re.compile(r"^[UWS][A-Z0-9]{2,20}$")
_CHANNEL = re.compile(r"^[CG][A-Z0-9]{2,20}$")
_ESCALATE_TO = re.compile(r"^[UWCG][A-Z0-9]{2,20}$")
#: What `step_up` may ask for: a passkey (WebAuthn) today.
STEP_UP_METHODS = ("passkey",)
DEFAULT_STEP_UP_MAX_AGE = 300
_SCHEDULE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


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

    @property
    def digest(self) -> str:
        """`sha256:…` of the rules as this process applies them (the settings' defaults filled
        in, the built-in last rule included) and the version: equal digests decide alike."""
        rules = [dataclasses.asdict(rule) for rule in self.rules]
        canonical = json.dumps(
            {"version": self.version, "rules": rules}, sort_keys=True, default=sorted
        )
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


# --- the file ------------------------------------------------------------------------------


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class _Duration(fields.Field):
    """`30m`, `2h`, `7d`, `1d12h` (app.durations), one minute to a year."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise MarshmallowError("expected a duration such as 30m, 8h, 2d or 1d12h")
        try:
            seconds = parse_duration(str(value))
        except ValueError as error:
            raise MarshmallowError(str(error)) from None
        if not 60 <= seconds <= 366 * 86400:
            raise MarshmallowError("expected between 1 minute and 366 days")
        return seconds


def _ids(pattern: re.Pattern[str], expected: str) -> fields.List:
    return fields.List(
        fields.String(validate=validate.Regexp(pattern, error=expected)),
        validate=validate.Length(max=100),
    )


_REQUIREMENT = validate.OneOf(("required", "optional"))


class _MatchSchema(_Strict):
    tags = fields.List(
        fields.String(validate=validate.Length(min=1, max=100)), validate=validate.Length(max=100)
    )
    kinds = fields.List(fields.String(validate=validate.OneOf(KINDS)))
    verbs = fields.List(fields.String(validate=validate.OneOf(VERBS)))
    owners = fields.List(
        fields.String(validate=validate.Length(min=1, max=128)), validate=validate.Length(max=500)
    )
    sources = fields.List(fields.String(validate=validate.OneOf(SOURCES)))

    @post_load
    def build(self, data: dict[str, list[str]], **_: Any) -> Match:
        return Match(
            **{
                key: frozenset(v.casefold() if key in ("tags", "owners") else v for v in values)
                for key, values in data.items()
            }
        )


class _BreakGlassSchema(_Strict):
    max_duration = _Duration(required=True)
    on_call = fields.String(
        required=True,
        validate=validate.Regexp(_SCHEDULE, error="expected a PagerDuty or Opsgenie schedule ID"),
    )
    review_within = _Duration(required=True)
    notify = _ids(_CHANNEL, "expected a Slack channel ID such as C0SECURITY")
    escalate_to = _ids(_ESCALATE_TO, "expected a Slack user ID (U…/W…) or channel ID (C…)")

    @post_load
    def build(self, data: dict[str, Any], **_: Any) -> BreakGlass:
        return BreakGlass(
            max_duration=data["max_duration"],
            on_call=data["on_call"],
            review_within=data["review_within"],
            notify=tuple(data.get("notify") or ()),
            escalate_to=tuple(data.get("escalate_to") or ()),
        )


class _RuleSchema(_Strict):
    name = fields.String(
        required=True,
        validate=validate.Regexp(_NAME, error="expected letters, digits, '_', '.', '-' (up to 63)"),
    )
    match = fields.Nested(_MatchSchema)
    approvals = fields.Integer(strict=True, validate=validate.Range(min=0, max=10))
    approvers = _ids(_APPROVER, "expected a Slack user ID (U…/W…) or user-group ID (S…)")
    channel = fields.String(
        validate=validate.Regexp(_CHANNEL, error="expected a Slack channel ID such as C0123ABCD")
    )
    reason = fields.String(validate=_REQUIREMENT)
    ticket = fields.String(validate=_REQUIREMENT)
    max_duration = _Duration()
    remind_after = _Duration()
    escalate_after = _Duration()
    escalate_to = _ids(_ESCALATE_TO, "expected a Slack user ID (U…/W…) or channel ID (C…)")
    step_up = fields.String(validate=validate.OneOf(STEP_UP_METHODS))
    step_up_max_age = _Duration()
    break_glass = fields.Nested(_BreakGlassSchema)

    @validates_schema
    def escalation(self, data: dict[str, Any], **_: Any) -> None:
        glass = data.get("break_glass")
        if glass is not None and not (glass.escalate_to or data.get("escalate_to")):
            raise MarshmallowError(
                "break_glass needs escalate_to (its own or the rule's): who hears of a review "
                "nobody answered",
                "break_glass",
            )
        if data.get("escalate_after") and not data.get("escalate_to"):
            raise MarshmallowError(
                "escalate_after needs escalate_to (who to escalate to)", "escalate_to"
            )
        if data.get("escalate_to") and not data.get("escalate_after"):
            raise MarshmallowError("escalate_to needs escalate_after (when)", "escalate_after")
        if data.get("step_up_max_age") and not data.get("step_up"):
            raise MarshmallowError("step_up_max_age needs step_up (e.g. step_up: passkey)", "step_up")
        if (data.get("step_up_max_age") or 0) > 3600:
            raise MarshmallowError(
                "expected at most 1h: the click is confirmed soon after", "step_up_max_age"
            )


class _PolicySchema(_Strict):
    version = fields.Integer(strict=True, validate=validate.Range(min=1, max=2**53))
    rules = fields.List(
        fields.Nested(_RuleSchema), required=True, validate=validate.Length(min=1, max=200)
    )


def parse_policy(
    text: str, defaults: Defaults, *, origin: str = "policy", strict: bool = True
) -> Policy:
    """Rules from YAML text; one `ConfigError` naming the rule and the field when bad.

    `strict` also refuses rules no one could ever approve (more approvals than approvers)."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(VARIABLE, f"{origin}: not valid YAML{where}") from None
    if not isinstance(document, dict):
        raise ConfigError(VARIABLE, f"{origin}: expected a mapping with a `rules:` list")
    try:
        loaded = _PolicySchema().load(document)
    except MarshmallowError as error:
        raise ConfigError(VARIABLE, f"{origin}: {_first_problem(error.messages, document)}") from None
    rules = [_rule(data, defaults) for data in loaded["rules"]]
    _check_rules(rules, origin, strict=strict)
    return Policy((*rules, defaults.rule("settings")), version=loaded.get("version", 0))


def _rule(data: Mapping[str, Any], defaults: Defaults) -> Rule:
    approvers = data.get("approvers")
    return Rule(
        name=data["name"],
        match=data.get("match") or Match(),
        approvals=data.get("approvals", defaults.approvals),
        approvers=frozenset(approvers) if approvers else defaults.approvers,
        channel=data.get("channel") or defaults.channel,
        reason_required=data.get("reason") == "required",
        ticket_required=data.get("ticket") == "required",
        max_duration=data.get("max_duration"),
        remind_after=data.get("remind_after"),
        escalate_after=data.get("escalate_after"),
        escalate_to=tuple(data.get("escalate_to") or ()),
        step_up=data.get("step_up", ""),
        step_up_max_age=data.get("step_up_max_age") or DEFAULT_STEP_UP_MAX_AGE,
        break_glass=data.get("break_glass"),
    )


def _check_rules(rules: Sequence[Rule], origin: str, *, strict: bool) -> None:
    seen: set[str] = set()
    for position, rule in enumerate(rules, start=1):
        where = f"{origin}: rule {position} “{rule.name}”"
        if rule.name in seen or rule.name == "settings":
            raise ConfigError(
                VARIABLE,
                f"{where}: name: used twice (each rule needs its own "
                "name; `settings` is the built-in last rule)",
            )
        seen.add(rule.name)
        if not strict or rule.approvals == 0:
            continue
        if not rule.approvers:
            raise ConfigError(
                VARIABLE,
                f"{where}: approvers: needed for {rule.approvals} "
                "approval(s) (or set MYSAFE_BOT_APPROVERS)",
            )
        if not rule.approver_groups and rule.approvals > len(rule.approver_users):
            raise ConfigError(
                VARIABLE,
                f"{where}: approvals: is {rule.approvals}, but approvers "
                f"lists {len(rule.approver_users)} user(s) and no user "
                "group (S…): no request could ever be approved",
            )
        if not rule.channel:
            raise ConfigError(
                VARIABLE, f"{where}: channel: needed (or set MYSAFE_BOT_APPROVAL_CHANNEL)"
            )


def _first_problem(messages: Any, document: Mapping[str, Any]) -> str:
    """marshmallow's nested messages as one line: `rule 2 “name”: field: message`."""
    path, message = _first_leaf(messages)
    if len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int):
        raw = document.get("rules") or []
        name = raw[path[1]].get("name") if isinstance(raw[path[1]], dict) else None
        label = f"rule {path[1] + 1}" + (f" “{name}”" if isinstance(name, str) else "")
        field_path = ".".join(str(p) for p in path[2:] if not isinstance(p, int)) or "rule"
        return f"{label}: {field_path}: {message}"
    return f"{'.'.join(str(p) for p in path) or 'file'}: {message}"


def _first_leaf(messages: Any, path: tuple[Any, ...] = ()) -> tuple[tuple[Any, ...], str]:
    if isinstance(messages, dict):
        key = sorted(messages, key=lambda k: (k == "_schema", str(k)))[0]
        inner = () if key == "_schema" else (key,)
        return _first_leaf(messages[key], path + inner)
    if isinstance(messages, list) and messages:
        return _first_leaf(messages[0], path)
    return path, str(messages).rstrip(".")


#: The last good rules read from each file by this process. gunicorn's workers are forked from
#: a master that read the file at start-up, so they inherit them (see `load_policy`).
_LAST_GOOD: dict[Path, Policy] = {}
#: Set by `mysafe-bot serve` for its processes: a private file holding the text of the rules
#: last read good by any of them. Its `mysafe-bot worker`s are started afresh, not forked, so
#: they inherit no `_LAST_GOOD`: one (re)started after a bad edit reads the rules from here.
IN_FORCE = "MYSAFE_BOT_POLICY_IN_FORCE"


def load_policy(
    path: Path, defaults: Defaults, *, strict: bool = True, keep_last_good: bool = False
) -> Policy:
    """The rules in the file at `path` (see `parse_policy`).

    With `keep_last_good`, a process that has already read good rules from this file keeps
    them when it has since turned bad (one error line): a web worker started after a bad edit
    (a crash, a restart) then serves with the rules in force instead of failing to start,
    which would stop gunicorn. A process that never read the file still fails."""
    in_force = Path(os.environ[IN_FORCE]) if os.environ.get(IN_FORCE) else None
    try:
        text = _read(path)
        policy = parse_policy(text, defaults, origin=path.name, strict=strict)
    except ConfigError as error:
        kept = _LAST_GOOD.get(path.resolve()) if keep_last_good else None
        if kept is None and keep_last_good and in_force is not None:
            kept = _in_force(in_force, path, defaults, strict=strict)
        if kept is None:
            raise
        log.error(
            "policy file not valid; the rules read before are kept",
            extra={"event": "policy.kept", "problem": str(error), "pid": os.getpid()},
        )
        return kept
    _LAST_GOOD[path.resolve()] = policy
    if in_force is not None:
        _keep_in_force(in_force, text)
    return policy


def _read(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE + 1)
    except OSError as error:
        raise ConfigError(VARIABLE, f"cannot read {path}: {error.strerror}") from None
    if len(raw) > MAX_FILE:
        raise ConfigError(VARIABLE, f"{path.name}: over {MAX_FILE // 1024} KiB")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(VARIABLE, f"{path.name}: not UTF-8 text") from None


def _in_force(copy: Path, path: Path, defaults: Defaults, *, strict: bool) -> Policy | None:
    """The rules serve's processes last read good, or None when there is no good copy."""
    try:
        return parse_policy(copy.read_text("utf-8"), defaults, origin=path.name, strict=strict)
    except (OSError, UnicodeDecodeError, ConfigError):
        return None


def _keep_in_force(copy: Path, text: str) -> None:
    """Replace the copy in one step (a reader never sees half a file)."""
    part = copy.with_name(f".{copy.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        part.write_text(text, "utf-8")
        os.replace(part, copy)
    except OSError as error:
        log.warning(
            "rules in force not copied",
            extra={"event": "policy.copy_failed", "error": type(error).__name__},
        )


class PolicyBook:
    """The rules a process uses now; `reload()` (SIGHUP) swaps them only for a good file."""

    def __init__(self, settings: Settings, *, audit: Audit | None = None) -> None:
        self.path = settings.policy_path
        #: Each reload is audited: the rules that decide who approves what are evidence too.
        self.audit = audit
        self.defaults = Defaults.of(settings)
        self._policy = settings.policy or default_policy(self.defaults)
        self._lock = threading.Lock()

    @property
    def current(self) -> Policy:
        return self._policy

    def reload(self) -> bool:
        """Read the file again; a bad one keeps the rules in force and logs one error line.
        Either way the outcome is audited (when the book was given the audit trail)."""
        if self.path is None:
            return False
        with self._lock:
            try:
                policy = load_policy(self.path, self.defaults)
            except ConfigError as error:
                log.error(
                    "policy not reloaded; the rules in force are kept",
                    extra={"event": "policy.reload_error", "problem": str(error), "pid": os.getpid()},
                )
                self._record("policy.reload_refused", problem=str(error)[:300])
                return False
            self._policy = policy
        self._record("policy.reload_applied", rules=",".join(r.name for r in policy.rules))
        log.info(
            "policy reloaded",
            extra={
                "event": "policy.reloaded",
                "pid": os.getpid(),
                "rules": [r.name for r in policy.rules],
            },
        )
        return True

    def _record(self, event: str, **facts: str) -> None:
        if self.audit is not None:
            self.audit.record(
                event, actor="bot", via="SIGHUP", file=str(self.path), pid=os.getpid(), **facts
            )
