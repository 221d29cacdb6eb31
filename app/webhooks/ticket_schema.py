"""The ticketing webhook's body: strict, bounded, and never a carrier of secret values."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    fields,
    post_load,
    validate,
    validates_schema,
)
from marshmallow import (
    ValidationError as MarshmallowError,
)

from app.approvals.changes import Change, Verb
from app.foundations.origins import Origin, allowed
from app.foundations.settings import SLACK_USER_OR_GROUP
from app.mysafe.models import Entry, GroupShare, Kind, UserShare
from app.mysafe.schemas import SECRET_FIELDS, GroupShareSchema, UserShareSchema

MAX_BODY = 64 * 1024
KINDS = {"password": Kind.PASSWORD, "secret": Kind.SECRET}


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class TicketRef(_Strict):
    key = fields.String(required=True, validate=validate.Length(min=1, max=64))
    url = fields.Url(schemes={"https", "http"}, validate=validate.Length(max=2048))


class Requester(_Strict):
    email = fields.Email(validate=validate.Length(max=254))
    slack_id = fields.String(
        validate=validate.Regexp(
            SLACK_USER_OR_GROUP, error="expected a Slack user ID such as U012ABCDEF"
        )
    )

    @validates_schema
    def exactly_one(self, data: dict[str, Any], **_: Any) -> None:
        if len(data) != 1:
            raise MarshmallowError("give exactly one of email or slack_id", "_schema")


class EntrySchema(_Strict):
    kind = fields.String(required=True, validate=validate.OneOf(tuple(KINDS)))
    id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=2**31 - 1))


@dataclass(frozen=True)
class Ticket:
    event_id: str
    key: str
    url: str
    requester_email: str
    requester_slack_id: str
    action: str
    kind: Kind
    identifier: int
    users: tuple[UserShare, ...] = ()
    groups: tuple[GroupShare, ...] = ()
    changes: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    callback_url: str = ""
    #: Seconds a share lasts (0: for good); the longest is checked against the setting.
    duration_seconds: int = 0
    #: Break-glass (an incident tool opening it): the same guards as from Slack.
    emergency: bool = False

    def change(self) -> Change:
        """The change this ticket asks for: one builder per verb a ticket may carry."""
        return TICKET_CHANGES[Verb(self.action)](self)

    def reference(self) -> dict[str, str]:
        """What the request keeps of the ticket (shown in Slack, used for the callback)."""
        return {
            "key": self.key,
            "url": self.url,
            "event_id": self.event_id,
            "callback_url": self.callback_url,
        }


#: The verbs a ticket may ask for, each with how it becomes a `Change`. The schema accepts
#: exactly these actions, so a verb is added here or not at all (no silent fall-through).
TICKET_CHANGES: dict[Verb, Callable[[Ticket], Change]] = {
    Verb.SHARE: lambda t: Change(
        Verb.SHARE,
        t.kind,
        t.identifier,
        add_users=t.users,
        add_groups=t.groups,
        duration=t.duration_seconds,
    ),
    Verb.UNSHARE: lambda t: Change(
        Verb.UNSHARE,
        t.kind,
        t.identifier,
        remove_users=tuple(u.username for u in t.users),
        remove_groups=tuple(g.name for g in t.groups),
    ),
    Verb.UPDATE: lambda t: Change(Verb.UPDATE, t.kind, t.identifier, fields=t.changes),
    Verb.DISABLE: lambda t: Change(Verb.DISABLE, t.kind, t.identifier),
    Verb.ENABLE: lambda t: Change(Verb.ENABLE, t.kind, t.identifier),
}
#: Actions that name only the entry: people or groups sent with them would be ignored, and
#: a ticket that says more than the bot does is refused instead.
ENTRY_ONLY = ("disable", "enable")


class TicketSchema(_Strict):
    event_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    ticket = fields.Nested(TicketRef, required=True)
    requester = fields.Nested(Requester, required=True)
    action = fields.String(
        required=True, validate=validate.OneOf(tuple(v.value for v in TICKET_CHANGES))
    )
    entry = fields.Nested(EntrySchema, required=True)
    users = fields.List(
        fields.Nested(UserShareSchema), validate=validate.Length(max=50), load_default=list
    )
    groups = fields.List(
        fields.Nested(GroupShareSchema), validate=validate.Length(max=50), load_default=list
    )
    changes = fields.Dict(
        keys=fields.String(validate=validate.Length(max=40)),
        values=fields.String(validate=validate.Length(max=4096)),
        load_default=dict,
    )
    reason = fields.String(validate=validate.Length(max=500), load_default="")
    callback_url = fields.Url(schemes={"https", "http"}, validate=validate.Length(max=2048))
    duration_seconds = fields.Integer(
        strict=True, load_default=0, validate=validate.Range(min=60, max=366 * 86400)
    )
    emergency = fields.Boolean(truthy={True}, falsy={False}, load_default=False)

    def __init__(self, *, callback_hosts: Collection[Origin], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.callback_hosts = callback_hosts

    @validates_schema
    def consistent(self, data: dict[str, Any], **_: Any) -> None:
        action = data.get("action")
        if action in ("share", "unshare") and not (data.get("users") or data.get("groups")):
            raise MarshmallowError(f"{action} needs users or groups", "users")
        if action in ENTRY_ONLY and (data.get("users") or data.get("groups")):
            raise MarshmallowError(f"{action} names only the entry, no users or groups", "users")
        if action == "update":
            self._check_changes(data)
        elif data.get("changes"):
            raise MarshmallowError("changes go only with action update", "changes")
        if data.get("duration_seconds") and action != "share":
            raise MarshmallowError("only a share can be for a period", "duration_seconds")
        if data.get("emergency") and not data.get("duration_seconds"):
            raise MarshmallowError(
                "break-glass is always a share for a period (duration_seconds)", "emergency"
            )
        url = data.get("callback_url")
        if url and not allowed(url, self.callback_hosts):
            raise MarshmallowError(
                "this scheme, host and port are not in MYSAFE_BOT_CALLBACK_HOSTS", "callback_url"
            )

    def _check_changes(self, data: dict[str, Any]) -> None:
        changes = data.get("changes") or {}
        if not changes:
            raise MarshmallowError("update needs changes", "changes")
        secret = sorted(SECRET_FIELDS & set(changes))
        if secret:
            raise MarshmallowError(
                f"{secret[0]}: secret values never travel through a ticket", "changes"
            )
        kind = KINDS.get((data.get("entry") or {}).get("kind", ""))
        allowed = Entry.PLAIN_FIELDS.get(kind, ()) if kind else ()
        unknown = sorted(set(changes) - set(allowed))
        if kind and unknown:
            raise MarshmallowError(
                f"{unknown[0]} cannot be changed; use {', '.join(allowed)}", "changes"
            )

    @post_load
    def build(self, data: dict[str, Any], **_: Any) -> Ticket:
        requester = data["requester"]
        return Ticket(
            event_id=data["event_id"],
            key=data["ticket"]["key"],
            url=data["ticket"].get("url", ""),
            requester_email=requester.get("email", ""),
            requester_slack_id=requester.get("slack_id", ""),
            action=data["action"],
            kind=KINDS[data["entry"]["kind"]],
            identifier=data["entry"]["id"],
            users=tuple(data["users"]),
            groups=tuple(data["groups"]),
            changes=dict(data["changes"]),
            reason=data["reason"],
            callback_url=data.get("callback_url", ""),
            duration_seconds=data["duration_seconds"],
            emergency=data["emergency"],
        )


def field_errors(messages: Any, prefix: str = "") -> list[dict[str, str]]:
    """marshmallow's nested messages as a flat JSON list: [{"field": "entry.id", "error": …}]."""
    if isinstance(messages, dict):
        found = []
        for key, value in messages.items():
            name = prefix if key == "_schema" else f"{prefix}.{key}" if prefix else str(key)
            found += field_errors(value, name or "body")
        return found
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [{"field": prefix or "body", "error": m} for m in messages]
    if isinstance(messages, list):
        return [e for item in messages for e in field_errors(item, prefix)]
    return [{"field": prefix or "body", "error": str(messages)}]
