"""`/mysafe rotate ENTRY`: open a private form for a new password, client secret or TOTP seed."""

from __future__ import annotations

from collections.abc import Mapping

from marshmallow import ValidationError as MarshmallowError

from app.approvals.changes import Change, Verb
from app.i18n import N_, _
from app.mysafe.models import Kind
from app.mysafe.schemas import SecretKeyField
from commands.context import Context
from commands.grammar import Args, take_entry
from commands.replies import OpenForm, RotateForm
from commands.types import Rotate, Token, VerbSpec

SPEC = VerbSpec(
    name="rotate",
    usage="/mysafe rotate password|secret ID",
    summary=N_("set a new password, client secret or TOTP seed in a private form"),
    examples=("/mysafe rotate password 312", "/mysafe rotate secret 7"),
)


#: The command this verb parses to; `commands.dispatch` routes it to `run`.
COMMAND = Rotate


def parse(args: list[Token]) -> Rotate:
    rest = Args(args)
    entry = take_entry(rest)
    rest.end()
    return Rotate(entry)


def run(ctx: Context, command: Rotate) -> OpenForm:
    """The form opens at once (Slack's trigger lasts 3 seconds); the entry is read on submit."""
    ctx.services.vault.credentials(ctx.user_id)  # unlinked people are told before typing secrets
    return OpenForm(RotateForm(command.entry.kind, command.entry.identifier))


# --- the form's half: what a front hands back once the person typed the new secret ----------


def form_errors(kind: Kind, given: Mapping[str, str]) -> dict[str, str]:
    """What the form refuses without I/O, by field: a front shows each next to its field."""
    if kind is Kind.SECRET:
        return {} if given.get("client_secret") else {"client_secret": _("required")}
    if not given.get("password") and not given.get("secret_key"):
        return {"password": _("give a new password, a new TOTP seed, or both")}
    if given.get("secret_key"):
        try:
            SecretKeyField().deserialize(given["secret_key"])
        except MarshmallowError:  # the message, never the value
            return {"secret_key": _("must be a base32 TOTP seed (letters A-Z, digits 2-7)")}
    return {}


def change(kind: Kind, identifier: int, given: Mapping[str, str]) -> tuple[Change, dict[str, str]]:
    """The rotation the form asks for, and its secret values (kept apart: the store seals
    them); `given` passed `form_errors` first."""
    secrets = {k: v for k, v in given.items() if k in ("password", "secret_key", "client_secret")}
    if "secret_key" in secrets:
        secrets["secret_key"] = SecretKeyField().deserialize(secrets["secret_key"])
    return Change(Verb.ROTATE, kind, identifier), secrets
