"""Marshmallow schemas for every MySafe body: strict on what we send, tolerant on what we read.

Write schemas (`PasswordCreate`, `PasswordUpdate`, `SecretCreate`, `SecretUpdate`) validate as
MySafe would — required fields, base32 TOTP seeds, HTTP methods, length limits — and raise on
unknown fields. Read schemas accept every variant listed in `mysafe-api.md` (`note`/`notes`,
`username`/`name`, `can_edit`/`can_write`, string numbers) and hand out `app.mysafe.models` objects.

Validation messages never echo the rejected value: a mistyped password must not reach Slack.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from marshmallow import (
    EXCLUDE,
    RAISE,
    Schema,
    fields,
    post_load,
    pre_load,
    validate,
    validates_schema,
)
from marshmallow import (
    ValidationError as MarshmallowError,
)

from app.foundations.errors import ValidationError
from app.mysafe.models import Entry, GroupShare, Kind, ListItem, UserShare

BASE32 = re.compile(r"^[A-Z2-7]+=*$")
HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
MAX_SHARES = 200

#: Field names whose values are secrets: never echoed, never typed in a Slack command.
SECRET_FIELDS = frozenset({"password", "secret_key", "client_secret", "token"})


def _text(max_length: int, *, required: bool = False, min_length: int = 0) -> fields.String:
    return fields.String(
        required=required,
        validate=validate.Length(min=min_length or (1 if required else 0), max=max_length),
    )


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class UserShareSchema(_Strict):
    username = _text(128, required=True)
    can_edit = fields.Boolean(load_default=False)

    @post_load
    def build(self, data: dict[str, Any], **_: Any) -> UserShare:
        return UserShare(data["username"].strip(), data["can_edit"])


class GroupShareSchema(_Strict):
    name = _text(128, required=True)
    can_edit = fields.Boolean(load_default=False)

    @post_load
    def build(self, data: dict[str, Any], **_: Any) -> GroupShare:
        return GroupShare(data["name"].strip(), data["can_edit"])


def _shares(schema: type[Schema]) -> fields.List:
    return fields.List(fields.Nested(schema), validate=validate.Length(max=MAX_SHARES))


class _Body(_Strict):
    """Common to every write body: sharing lists serialise back to MySafe's item shape."""

    users_allowed = _shares(UserShareSchema)
    groups_allowed = _shares(GroupShareSchema)

    @post_load
    def to_body(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        for key in ("users_allowed", "groups_allowed"):
            if key in data:
                data[key] = [share.body() for share in data[key]]
        return data


class SecretKeyField(fields.String):
    """A base32 TOTP seed; spaces are dropped and letters upper-cased, as authenticator apps do."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).replace(" ", "").upper()
        if not 8 <= len(text) <= 256 or not BASE32.match(text):
            raise MarshmallowError("must be a base32 TOTP seed (letters A-Z, digits 2-7, '=')")
        return text


class PasswordCreate(_Body):
    """`POST /api/mysafe/password`."""

    name = _text(255, required=True)
    username = _text(255, required=True)
    password = _text(1024, required=True)
    url = _text(2048)
    secret_key = SecretKeyField()
    notes = _text(4096)
    tags = _text(1024)


class PasswordUpdate(PasswordCreate):
    """`PUT /api/mysafe/password/update/{id}`: any subset of the create fields."""

    name = _text(255, min_length=1)
    username = _text(255, min_length=1)
    password = _text(1024, min_length=1)

    @validates_schema
    def not_empty(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise MarshmallowError("at least one field must change", "_schema")


class SecretCreate(_Body):
    """`POST /api/mysafe/secretapi`."""

    name = _text(255, required=True)
    url = _text(2048, required=True)
    client_id = _text(512, required=True)
    client_secret = _text(4096, required=True)
    identifier_code = _text(128)
    tags = _text(1024)
    notes = _text(4096)
    method = fields.String(
        validate=validate.OneOf(HTTP_METHODS, error="must be one of " + ", ".join(HTTP_METHODS))
    )

    @pre_load
    def lower_method(self, data: Any, **_: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("method"), str):
            data = {**data, "method": data["method"].strip().lower()}
        return data


class SecretUpdate(SecretCreate):
    """`PUT /api/mysafe/secretapi/update/{id}`: any subset."""

    name = _text(255, min_length=1)
    url = _text(2048, min_length=1)
    client_id = _text(512, min_length=1)
    client_secret = _text(4096, min_length=1)

    @validates_schema
    def not_empty(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise MarshmallowError("at least one field must change", "_schema")


CREATE_SCHEMAS = {Kind.PASSWORD: PasswordCreate, Kind.SECRET: SecretCreate}
UPDATE_SCHEMAS = {Kind.PASSWORD: PasswordUpdate, Kind.SECRET: SecretUpdate}


def validate_body(schema: type[Schema], data: Any) -> dict[str, Any]:
    """Load `data` with `schema`; raise the project's `ValidationError` (messages only)."""
    try:
        return schema().load(data)
    except MarshmallowError as error:
        raise ValidationError(_messages(error.messages)) from None


def _messages(messages: Any) -> dict[str, Any]:
    if isinstance(messages, dict):
        return {str(key): value for key, value in messages.items()}
    return {"_schema": messages}


# --- read side -----------------------------------------------------------------------------


class _Tolerant(Schema):
    class Meta:
        unknown = EXCLUDE


class _FlexibleBool(fields.Boolean):
    """MySafe sends booleans as true/false, "0"/"1", 0/1 or null."""

    truthy = {True, "1", "true", "True", "yes"}
    falsy = {False, "0", "false", "False", "no", "", None}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        return value in self.truthy


class _FlexibleText(fields.String):
    """Text that may be missing, null or a number."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return "" if value is None else str(value)


def _flexible_text() -> _FlexibleText:
    return _FlexibleText(load_default="", allow_none=True)


def _flexible_bool() -> _FlexibleBool:
    return _FlexibleBool(load_default=False, allow_none=True)


class _ShareRead(_Tolerant):
    can_edit = _flexible_bool()

    @pre_load
    def alias(self, data: Any, **_: Any) -> Any:
        if not isinstance(data, dict):
            return {}
        data = dict(data)
        if "can_edit" not in data and "can_write" in data:
            data["can_edit"] = data["can_write"]
        if "username" not in data and "name" in data:
            data["username"] = data["name"]
        return data


class UserShareRead(_ShareRead):
    username = _flexible_text()

    @post_load
    def build(self, data: dict[str, Any], **_: Any) -> UserShare:
        return UserShare(data["username"], data["can_edit"])


class GroupShareRead(_ShareRead):
    name = _flexible_text()

    @pre_load
    def group_alias(self, data: Any, **_: Any) -> Any:
        if isinstance(data, dict) and "name" not in data and "username" in data:
            data = {**data, "name": data["username"]}
        return data

    @post_load
    def build(self, data: dict[str, Any], **_: Any) -> GroupShare:
        return GroupShare(data["name"], data["can_edit"])


class EntryRead(_Tolerant):
    """Any entity key's content (`password_entity`, `api_entity`, `api_secret_entity`)."""

    identifier = fields.Integer(required=True)
    name = _flexible_text()
    url = _flexible_text()
    username = _flexible_text()
    notes = _flexible_text()
    tags = _flexible_text()
    client_id = _flexible_text()
    identifier_code = _flexible_text()
    method = _flexible_text()
    has_password = _flexible_bool()
    has_totp = _flexible_bool()
    has_client_secret = _flexible_bool()
    users_allowed = fields.List(fields.Nested(UserShareRead), load_default=list, allow_none=True)
    groups_allowed = fields.List(fields.Nested(GroupShareRead), load_default=list, allow_none=True)
    shared_error = fields.List(_FlexibleText(), load_default=list, allow_none=True)

    @pre_load
    def normalise(self, data: Any, **_: Any) -> Any:
        if not isinstance(data, dict):
            raise MarshmallowError("entity is not an object")
        data = dict(data)
        if "notes" not in data and "note" in data:
            data["notes"] = data["note"]
        # Secret values become flags here and go no further.
        data["has_password"] = bool(data.pop("password", None))
        data["has_totp"] = bool(data.pop("secret_key", None))
        data["has_client_secret"] = bool(data.pop("client_secret", None))
        data.pop("token", None)
        if isinstance(data.get("shared_error"), str | dict):
            data["shared_error"] = [data["shared_error"]] if data["shared_error"] else []
        return data

    @post_load
    def build(self, data: dict[str, Any], **_: Any) -> Entry:
        kind = self.context_kind
        return Entry(
            kind=kind,
            users_allowed=tuple(s for s in data.pop("users_allowed") or () if s.username),
            groups_allowed=tuple(s for s in data.pop("groups_allowed") or () if s.name),
            shared_error=tuple(str(e) for e in data.pop("shared_error") or ()),
            **data,
        )

    def __init__(self, kind: Kind, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.context_kind = kind


class ListItemRead(_Tolerant):
    identifier = fields.Integer(required=True)
    name = _flexible_text()
    url = _flexible_text()
    username = _flexible_text()
    tags = _flexible_text()
    can_view = _FlexibleBool(load_default=True)
    can_write = _flexible_bool()
    need_justify = _flexible_bool()
    need_approval = _flexible_bool()

    def __init__(self, kind: Kind, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.context_kind = kind

    @pre_load
    def aliases(self, data: Any, **_: Any) -> Any:
        if not isinstance(data, dict):
            raise MarshmallowError("list item is not an object")
        if "can_write" not in data and "can_edit" in data:
            data = {**data, "can_write": data["can_edit"]}
        return data

    @post_load
    def build(self, data: dict[str, Any], **_: Any) -> ListItem:
        return ListItem(kind=self.context_kind, **data)


def read_entry(kind: Kind, data: Any) -> Entry:
    """Normalise one entity; raise marshmallow's error for the client to map."""
    return _entry_reader(kind).load(data)


def read_list(kind: Kind, items: Any) -> list[ListItem]:
    if not isinstance(items, list):
        raise MarshmallowError("list is not an array")
    return _list_reader(kind).load(items)


# One reader per kind, made once: a schema's construction deep-copies every declared field,
# 4 % of a share job's CPU when it was made per read (benchmarks/README.md, issue #33,
# fifteenth step). marshmallow keeps no per-call state on the instance, so threads share it.
@functools.cache
def _entry_reader(kind: Kind) -> EntryRead:
    return EntryRead(kind)


@functools.cache
def _list_reader(kind: Kind) -> ListItemRead:
    return ListItemRead(kind, many=True)
