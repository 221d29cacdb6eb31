"""The policy file: YAML validated with marshmallow into a `Policy` (app.approvals.rules).

A bad file is one `ConfigError` naming the rule and the field (`rule 2 “name”: approvals: …`),
at start-up or at reload.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

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
from app.approvals.review_schedules import parse_reviews
from app.approvals.rules import (
    DEFAULT_STEP_UP_MAX_AGE,
    STEP_UP_METHODS,
    BreakGlass,
    Defaults,
    Match,
    Policy,
    Rule,
)
from app.foundations.durations import parse_duration
from app.foundations.errors import ConfigError

VARIABLE = "MYSAFE_BOT_POLICY"
#: The fronts a request can come through, as a rule names them.
SOURCES = ("slack", "webhook", "mcp", "review")
KINDS = ("password", "secret")
#: Every verb the engine knows, so a rule may name any of them and nothing else.
VERBS = tuple(verb.value for verb in Verb)
_APPROVER = re.compile(r"^[UWS][A-Z0-9]{2,20}$")
_CHANNEL = re.compile(r"^[CG][A-Z0-9]{2,20}$")
_ESCALATE_TO = re.compile(r"^[UWCG][A-Z0-9]{2,20}$")
_SCHEDULE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class _Duration(fields.Field):
    """`30m`, `2h`, `7d`, `1d12h` (app.foundations.durations), one minute to a year."""

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
    reviews = parse_reviews(document.pop("reviews", None), origin=origin)
    try:
        loaded = _PolicySchema().load(document)
    except MarshmallowError as error:
        raise ConfigError(VARIABLE, f"{origin}: {_first_problem(error.messages, document)}") from None
    rules = [_rule(data, defaults) for data in loaded["rules"]]
    _check_rules(rules, origin, strict=strict)
    return Policy(
        (*rules, defaults.rule("settings")), version=loaded.get("version", 0), reviews=reviews
    )


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
