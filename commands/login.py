"""`/mysafe login`: link your own MySafe key (client ID and secret go in a modal, never here)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from app.accounts.linked_keys import LinkedAccount, check_username, link_verified
from app.approvals.engine import Engine
from app.foundations.errors import BotError, ValidationError
from app.i18n import N_, _
from app.services import Services
from commands.context import Context
from commands.grammar import Args
from commands.replies import LoginForm, OpenForm
from commands.types import Login, Token, VerbSpec

SPEC = VerbSpec(
    name="login",
    usage="/mysafe login",
    summary=N_("link your MySafe key (client ID and secret) in a private form"),
    examples=("/mysafe login",),
)


#: The command this verb parses to; `commands.dispatch` routes it to `run`.
COMMAND = Login


def parse(args: list[Token]) -> Login:
    Args(args).end()
    return Login()


def run(ctx: Context, command: Login) -> OpenForm:
    return OpenForm(LoginForm())


# --- the form's half: what a front hands back once the person typed their key -------------


def form_errors(given: Mapping[str, str]) -> dict[str, str]:
    """What the form refuses without MySafe, by field: an empty field, a name MySafe cannot have."""
    errors = {
        b: _("required") for b in ("client_id", "client_secret", "mysafe_username") if b not in given
    }
    if "mysafe_username" in given:
        try:
            check_username(given["mysafe_username"])
        except ValidationError as error:
            errors["mysafe_username"] = _(str(error.errors["mysafe_username"]))
    return errors


def link(
    services: Services,
    engine: Engine,
    *,
    user: str,
    given: Mapping[str, str],
    words: Callable[[BotError], str],
) -> LinkedAccount:
    """Check and store the key, auditing the outcome either way: a key MySafe refused is a
    refused login, kept with why, as the front's `words` tell it (never the secret: MySafe's
    words lose it first)."""
    try:
        account = link_verified(
            services.vault,
            services.mysafe,
            user,
            client_id=given.get("client_id", ""),
            client_secret=given.get("client_secret", ""),
            mysafe_username=given.get("mysafe_username", ""),
            confirmed=False,
        )
    except BotError as error:
        why = words(error)
        engine.audit.record("account.link_refused", actor=user, via="login", why=why[:300])
        raise
    engine.audit.record(
        "account.linked",
        actor=user,
        via="login",
        mysafe_username=account.mysafe_username,
        client_id=account.client_id,
    )
    return account
