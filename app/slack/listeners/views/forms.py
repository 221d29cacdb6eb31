"""Modal submissions: deny reason, `/mysafe login`, `rotate` and `create`.

Each acknowledges at once. Input that can be checked without I/O is checked before the ack,
so Slack shows the error next to the field and nothing is stored; what needs MySafe (checking
a key, reading the entry) is stored as a job before the ack and runs after it, and the person
hears the result by modal update or DM (a key MySafe refuses brings the login form back as
typed, the secret field empty, the refusal under its field). When Redis cannot take the job,
the form stays open and says so.
Secret values typed into these modals go only to the vault or to the request's encrypted field.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient

from app import error_messages
from app.accounts.linked_keys import LinkedAccount
from app.approvals.changes import Change
from app.approvals.engine import Engine
from app.foundations.errors import BotError, CredentialsRejected, ValidationError
from app.i18n import _
from app.jobs.consumer import stored_at
from app.mysafe.models import Kind
from app.services import Services
from app.slack import blocks
from app.slack.listeners.durable import UNAVAILABLE, Durable
from app.slack.replies import answer_errors
from app.text import clip, inline
from commands import create as create_verb
from commands import login as login_verb
from commands import rotate as rotate_verb

#: A form's ack, as Bolt calls it (its arguments by name).
Ack = Callable[..., None]
#: A form's job: the request's body and the submitted view.
FormWork = Callable[[dict[str, Any], dict[str, Any]], None]


@dataclass(frozen=True)
class Deps:
    """What the forms need: the engine and the vault, the Web API, the job store."""

    services: Services
    engine: Engine
    client: WebClient
    durable: Durable


def forms(views: Views) -> tuple[tuple[str, Ack, FormWork], ...]:
    """Each form, declared once: its callback_id, its ack, and its job's work."""
    return (
        (blocks.DENY_VIEW, views.deny_ack, views.deny),
        (blocks.LOGIN_VIEW, views.login_ack, views.login),
        (blocks.ROTATE_VIEW, views.rotate_ack, views.rotate),
        (blocks.CREATE_VIEW, views.create_ack, views.create),
    )


def in_their_language(deps: Deps, answer: Ack) -> Ack:
    """A form's ack (its field errors) in the language of the person who submitted it, as
    last read (an ack never asks Slack). Bolt passes the arguments the listener names."""
    takes_view = "view" in inspect.signature(answer).parameters

    def listener(ack: Callable[..., Any], body: dict[str, Any], view: dict[str, Any]) -> None:
        user = str(body.get("user", {}).get("id", ""))
        with deps.durable.languages.to_person(user, ask=False):
            if takes_view:
                answer(ack, body, view)
            else:
                answer(ack, body)

    return listener


def job_kind(callback_id: str) -> str:
    """The job kind of a form's submission."""
    return f"view:{callback_id}"


#: Typed exactly as given: a pass phrase may begin or end with a space.
_VERBATIM = frozenset({"password", "client_secret"})


def values(view: Mapping[str, Any]) -> dict[str, str]:
    """{block_id: typed text} from a submitted view; empty inputs are left out."""
    found = {}
    for block_id, actions in view["state"]["values"].items():
        for action in actions.values():
            value = action.get("value")
            if isinstance(value, str) and value.strip():
                found[block_id] = value if block_id in _VERBATIM else value.strip()
    return found


def _field_errors(error: ValidationError, shown: Mapping[str, Any]) -> dict[str, str]:
    """marshmallow's messages, on the modal's own fields (a message, never the value)."""
    errors = {}
    for field, messages in error.errors.items():
        text = messages[0] if isinstance(messages, list) and messages else str(messages)
        target = field if field in shown else "name"
        errors[target] = _(str(text))[:150]  # the bot's and marshmallow's own, translated
    return errors


def _linked_notice(account: LinkedAccount) -> str:
    if account.confirmed:
        return _("✅ Linked: you act in MySafe as *{name}* (client ID {client_id}).").format(
            name=inline(account.mysafe_username), client_id=inline(account.client_id)
        )
    return _(
        "✅ Key linked (client ID {client_id}). You said you are *{name}* in MySafe: that stays "
        "unconfirmed, and mentions of you cannot be shared with, until an admin runs `{command}`."
    ).format(
        client_id=inline(account.client_id),
        name=inline(account.mysafe_username),
        command=f"mysafe-bot users map {account.slack_id} {inline(account.mysafe_username)}",
    )


class Views:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def _dm(self, user: str, text: str) -> None:
        self.deps.client.chat_postMessage(channel=user, text=text)

    def _stored(self, body: dict[str, Any], ack: Callable[..., Any], **answer: Any) -> None:
        """Store the form's job, then ack with `answer`; with Redis down, keep the form open
        and say why (the person's typing is not lost)."""
        view = body["view"]
        if self.deps.durable.store(job_kind(view["callback_id"]), body):
            ack(**answer)
            return
        field = next(iter(view["state"]["values"]), None)
        if field is None:
            ack(response_action="update", view=_notice(_(UNAVAILABLE)))
        else:
            ack(response_action="errors", errors={field: _(UNAVAILABLE)})

    # --- deny ----------------------------------------------------------------------------

    def deny_ack(self, ack: Callable[..., Any], body: dict[str, Any]) -> None:
        self._stored(body, ack)

    def deny(self, body: dict[str, Any], view: dict[str, Any]) -> None:
        user, request_id = body["user"]["id"], view["private_metadata"]
        reason = values(view).get("reason", "")
        with answer_errors(lambda text: self._dm(user, text)):
            if reason.strip():  # the click already denied; an empty form adds nothing
                self.deps.engine.explain(request_id, user, reason)

    # --- login ---------------------------------------------------------------------------

    def login_ack(self, ack: Callable[..., Any], body: dict[str, Any], view: dict[str, Any]) -> None:
        missing = login_verb.form_errors(values(view))
        if missing:
            ack(response_action="errors", errors=missing)
            return
        self._stored(
            body, ack, response_action="update", view=_notice(_("Checking your key with MySafe…"))
        )

    def login(self, body: dict[str, Any], view: dict[str, Any]) -> None:
        user, given = body["user"]["id"], values(view)
        if login_verb.form_errors(given):
            return  # refused in the ack; the form is still open for the person to correct
        problems: dict[str, str] = {}
        linked: list[LinkedAccount] = []
        with error_messages.answer_errors(
            lambda text: text and problems.setdefault("", text), _login_refusal(problems)
        ):
            linked.append(
                login_verb.link(
                    self.deps.services,
                    self.deps.engine,
                    user=user,
                    given=given,
                    words=error_messages.user_message,
                )
            )
        shown = (
            _notice(_linked_notice(linked[0]))
            if linked
            else blocks.login_modal(
                client_id=given.get("client_id", ""),
                mysafe_username=given.get("mysafe_username", ""),
                problems=problems,
            )
        )
        _after_the_ack_settles(self.deps.services.settings.ack_settle)
        self.deps.client.views_update(view_id=view["id"], view=shown)

    # --- rotate --------------------------------------------------------------------------

    def rotate_ack(self, ack: Callable[..., Any], body: dict[str, Any], view: dict[str, Any]) -> None:
        errors = rotate_verb.form_errors(
            Kind(json.loads(view["private_metadata"])["kind"]), values(view)
        )
        if errors:
            ack(response_action="errors", errors=errors)
        else:
            self._stored(body, ack)

    def rotate(self, body: dict[str, Any], view: dict[str, Any]) -> None:
        user, given = body["user"]["id"], values(view)
        target = json.loads(view["private_metadata"])
        kind = Kind(target["kind"])
        if rotate_verb.form_errors(kind, given):
            return  # refused in the ack
        change, secrets = rotate_verb.change(kind, int(target["identifier"]), given)
        self._submit(
            user,
            change,
            secrets=secrets,
            reason=given.get("reason", ""),
            key=f"view:{view['id']}:{view.get('hash', '')}",
        )

    # --- create --------------------------------------------------------------------------

    def create_ack(self, ack: Callable[..., Any], body: dict[str, Any], view: dict[str, Any]) -> None:
        kind = Kind(view["private_metadata"])
        try:
            create_verb.change(kind, values(view))
        except ValidationError as error:
            ack(response_action="errors", errors=_field_errors(error, view["state"]["values"]))
            return
        self._stored(body, ack)

    def create(self, body: dict[str, Any], view: dict[str, Any]) -> None:
        user, given = body["user"]["id"], values(view)
        kind = Kind(view["private_metadata"])
        try:
            change, secrets = create_verb.change(kind, given)
        except ValidationError:
            return  # refused in the ack, next to the field
        self._submit(
            user,
            change,
            secrets=secrets,
            reason=given.get("reason", ""),
            key=f"view:{view['id']}:{view.get('hash', '')}",
        )

    def _submit(
        self, user: str, change: Change, *, secrets: dict[str, str], reason: str, key: str
    ) -> None:
        with answer_errors(lambda text: self._dm(user, text)):
            request = self.deps.engine.submit(
                change, requester=user, secrets=secrets, reason=reason, idempotency_key=key
            )
            self._dm(user, blocks.waiting_notice(request, self.deps.services.settings.approval_channel))


def _after_the_ack_settles(settle: float) -> None:
    """Wait until the ack's own view update has surely been applied: `settle` seconds
    (MYSAFE_BOT_ACK_SETTLE) from storing the form's job. The ack swaps the form for "Checking
    your key…" when Slack reads the ack's answer, and nothing tells the job when that is: a
    quick MySafe could let the outcome reach Slack first, and "Checking…" would then cover it
    for good. Slack reads the answer within its 3 s limit, in practice milliseconds."""
    at = stored_at()
    if at is not None:
        time.sleep(max(0.0, min(settle, at + settle - time.time())))


def _login_refusal(problems: dict[str, str]) -> Callable[[BotError], str]:
    """Word MySafe's refusal of a key for the form given back, and note the field it is about
    (`problems`); the secret field comes back empty, so the line asks for it again."""

    def tell(error: BotError) -> str:
        if isinstance(error, CredentialsRejected):
            problems["client_secret"] = _(
                "MySafe refused this Client ID and Client Secret (it said: {words}). Check the "
                "Client ID, then paste the Client Secret again: it is never shown back."
            ).format(words=clip(error.words(), 300))
        elif isinstance(error, ValidationError) and "mysafe_username" in error.errors:
            problems["mysafe_username"] = clip(error.errors["mysafe_username"], 300)
        else:
            return _("{meaning} Paste the Client Secret again to retry.").format(
                meaning=_(error.user_message)
            )
        return ""

    return tell


def _notice(text: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "MySafe"},
        "close": {"type": "plain_text", "text": _("Close")},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}],
    }
