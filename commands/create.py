"""`/mysafe create password|secret`: open a form with every field of a new entry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.approvals.changes import MAX_SHARES_PER_REQUEST, Change, Verb
from app.foundations.errors import ValidationError
from app.i18n import N_, _
from app.mysafe.models import GroupShare, Kind, UserShare
from app.mysafe.schemas import CREATE_SCHEMAS, validate_body
from commands.context import Context
from commands.grammar import Args, take_kind
from commands.replies import Code, CreateForm, OpenForm
from commands.types import Create, Token, VerbSpec

SPEC = VerbSpec(
    name="create",
    usage="/mysafe create password|secret",
    summary=N_("create an entry in a private form with every field"),
    examples=("/mysafe create password", "/mysafe create secret"),
)


#: The command this verb parses to; `commands.dispatch` routes it to `run`.
COMMAND = Create


def parse(args: list[Token]) -> Create:
    rest = Args(args)
    kind = take_kind(rest)
    rest.hint = (Code(f"/mysafe create {kind.value}"), _(" opens a form that asks for every field"))
    rest.end()
    return Create(kind)


def run(ctx: Context, command: Create) -> OpenForm:
    ctx.services.vault.credentials(ctx.user_id)  # unlinked people are told before typing secrets
    return OpenForm(CreateForm(command.kind))


# --- the form's half: what a front hands back once the person filled in the entry ----------


def change(kind: Kind, given: Mapping[str, str]) -> tuple[Change, dict[str, str]]:
    """Split the form into the plain intent and the secret values, validated as MySafe would
    (a `ValidationError` names the field); a front reuses it as it is."""
    body = {k: v for k, v in given.items() if k not in ("users_allowed", "groups_allowed", "reason")}
    users = _shares(given.get("users_allowed", ""), UserShare)
    groups = _shares(given.get("groups_allowed", ""), GroupShare)
    too_many = _share_limit(len(users), len(groups))
    try:
        checked = validate_body(
            CREATE_SCHEMAS[kind],
            {
                **body,
                "users_allowed": [u.body() for u in users],
                "groups_allowed": [g.body() for g in groups],
            },
        )
    except ValidationError as error:
        raise ValidationError({**error.errors, **too_many}) from None
    if too_many:
        raise ValidationError(too_many)
    secret_names = {"password", "secret_key", "client_secret"}
    secrets = {k: v for k, v in checked.items() if k in secret_names}
    fields = {
        k: v for k, v in checked.items() if k not in secret_names | {"users_allowed", "groups_allowed"}
    }
    change = Change(
        Verb.CREATE, kind, None, add_users=tuple(users), add_groups=tuple(groups), fields=fields
    )
    return change, secrets


def _share_limit(users: int, groups: int) -> dict[str, str]:
    """The engine's own limit, checked while the form is open: refused after it closed, the
    request would be lost with the password typed into it."""
    if users + groups <= MAX_SHARES_PER_REQUEST:
        return {}
    field = "users_allowed" if users else "groups_allowed"
    return {
        field: _(
            "at most {most} people and groups in all, so that the approval message can name "
            "each one (this form has {count})"
        ).format(most=MAX_SHARES_PER_REQUEST, count=users + groups)
    }


def _shares(text: str, kind: type) -> list[Any]:
    """`alices:edit, bobm` -> shares; the `:edit` suffix grants edit rights."""
    shares = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _colon, right = item.partition(":")
        if not name.strip():
            raise ValidationError({"users_allowed": _("each entry is a name, optionally :edit")})
        shares.append(kind(name.strip(), right.strip().lower() == "edit"))
    return shares
