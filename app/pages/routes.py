"""`/passkeys/<token>` (register a passkey) and `/step-up/<token>` (confirm an approval).

Each page is a little server-rendered HTML (Jinja, every text escaped) and one script of our
own (`static/passkey.js`, calling `navigator.credentials`); the strict Content-Security-Policy
allows nothing else: no inline script or style, no third party, no framing. The only secret
is the one-time token in the path, bound to one Slack user; the page's answers never carry
a referrer or get cached. The ceremony itself is app.approvals.stepup's.

Who is the person? The token says so: it was sent to that Slack user alone (an ephemeral
answer) and works once; and what it confirms must be signed by one of *that user's* passkeys,
so a forwarded or stolen link is useless without their authenticator (docs/step-up.md).

The page speaks its person's language (`Speak`: their Slack language as last read, else the
workspace's): a link's owner is known once it is read, so the page and its script's sentences
follow them; a link that cannot be read speaks the workspace's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from flask import Blueprint, Response, jsonify, render_template_string, request

from app.approvals.engine import Engine
from app.approvals.stepup import Purpose, StepUpRefused
from app.error_messages import user_message
from app.foundations.errors import BotError
from app.i18n import _, current
from app.pages.refusals import translated

log = logging.getLogger(__name__)

#: Speak this Slack user's language (their Slack locale as last read, else the workspace's;
#: "" for the workspace's).
Speak = Callable[[str], AbstractContextManager[str]]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
#: A credential's JSON is a few kilobytes; anything larger is not one.
MAX_BODY = 64 * 1024

PAGE = """<!doctype html>
<html lang="{{ lang }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{ title }}</title>
<link rel="stylesheet" href="{{ url_for('pages.static', filename='passkey.css') }}">
<script src="{{ url_for('pages.static', filename='passkey.js') }}" defer></script>
</head>
<body>
<main data-ceremony="{{ ceremony }}"
{%- for name, words in script.items() %} data-{{ name }}="{{ words }}"{% endfor %}>
<h1>{{ title }}</h1>
{% for line in lines %}<p>{{ line }}</p>{% endfor %}
{% if ceremony %}<button type="button" id="go">{{ action }}</button>{% endif %}
<p id="status" role="status" aria-live="polite"></p>
<p><a href="slack://open">{{ back }}</a></p>
</main>
</body>
</html>
"""


def _page(
    title: str, lines: list[str], *, ceremony: str = "", action: str = "", status: int = 200
) -> Response:
    html = render_template_string(
        PAGE,
        lang=current().replace("_", "-"),
        title=title,
        lines=lines,
        ceremony=ceremony,
        action=action,
        script=_script_words() if ceremony else {},
        back=_("Back to Slack"),
    )
    return _secured(Response(html, status=status, mimetype="text/html"))


def _script_words() -> dict[str, str]:
    """The sentences `passkey.js` may show, in the page's language (as data attributes: the
    Content-Security-Policy allows no inline script)."""
    return {
        "waiting": _("Waiting for your passkey…"),
        "unsupported": _("This browser cannot use passkeys: open the link in an up-to-date browser."),
        "cancelled": _(
            "Your browser found no usable passkey, or the request was cancelled. The link is "
            "now used: go back to Slack for a new one."
        ),
        "refused": _("The bot refused."),
    }


def _gone(error: BotError) -> Response:
    said = translated(str(error)) if isinstance(error, StepUpRefused) else user_message(error)
    return _page(_("This link does not work"), [said], status=410)


def _secured(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def _answer(ok: bool, message: str, status: int = 200) -> Response:
    response = jsonify(ok=ok, message=message)
    response.status_code = status
    return _secured(response)


def _credential() -> dict[str, Any] | None:
    """The browser's credential, as JSON; None for anything else (a form post, junk)."""
    if not request.is_json or (request.content_length or 0) > MAX_BODY:
        return None
    body = request.get_json(silent=True)
    return (
        body.get("credential")
        if isinstance(body, dict) and isinstance(body.get("credential"), dict)
        else None
    )


def blueprint(engine: Engine, speak: Speak) -> Blueprint:
    bp = Blueprint("pages", __name__, static_folder="static", static_url_path="/pages/static")
    stepup = engine.stepup

    @bp.get("/passkeys/<token>")
    def register_page(token: str) -> Response:
        try:
            link = stepup.peek(token, Purpose.REGISTER)
        except StepUpRefused as error:
            with speak(""):
                return _gone(error)
        with speak(link.user):
            return _page(
                _("Register a passkey"),
                [
                    _(
                        "Approvals of sensitive changes may ask you to confirm with a passkey. "
                        "Register one here: your device asks for your fingerprint, face or PIN."
                    ),
                ],
                ceremony="register",
                action=_("Register a passkey"),
            )

    @bp.get("/step-up/<token>")
    def step_up_page(token: str) -> Response:
        try:
            link = stepup.peek(token, Purpose.CONFIRM)
        except StepUpRefused as error:
            with speak(""):
                return _gone(error)
        with speak(link.user):
            try:
                change = engine.get(link.request)
            except BotError as error:
                return _gone(error)
            what = (
                f"{_(change.change.verb.value)} {_(change.change.kind.label)} "
                f"{change.change.identifier or ''} {change.entry_name}".strip()
            )
            return _page(
                _("Confirm your approval of {id}").format(id=change.id),
                [
                    _("Confirm your approval of {id} with your passkey.").format(id=change.id),
                    _("{change}, asked by {requester}.").format(
                        change=what, requester=change.requester_name or change.requester
                    ),
                    _("Your approval counts only once your passkey confirms it."),
                ],
                ceremony="confirm",
                action=_("Confirm with my passkey"),
            )

    @bp.post("/passkeys/<token>/options")
    @bp.post("/step-up/<token>/options")
    def options(token: str) -> Response:
        purpose = Purpose.REGISTER if request.path.startswith("/passkeys/") else Purpose.CONFIRM
        try:
            whose = stepup.peek(token, purpose).user
        except StepUpRefused:
            whose = ""  # begin refuses it below, in the workspace's language
        with speak(whose):
            if not request.is_json:
                return _answer(False, _("Expected JSON."), 415)
            try:
                _link, options = stepup.begin(token, purpose)
            except StepUpRefused as error:
                return _answer(False, translated(str(error)), 410)
        return _secured(Response(options, mimetype="application/json"))

    @bp.post("/passkeys/<token>/verify")
    def register(token: str) -> Response:
        credential = _credential()
        if credential is None:
            with speak(""):
                return _answer(False, _("Expected the passkey's answer as JSON."), 400)
        try:
            user, passkey = stepup.register(token, credential)
        except StepUpRefused as error:
            with speak(error.link.user if error.link else ""):
                return _answer(False, translated(str(error)), 400)
        engine.audit.record("passkey.registered", actor=user, credential=passkey.credential_id)
        with speak(user):
            return _answer(
                True,
                _("Your passkey is registered. You can close this page and go back to Slack."),
            )

    @bp.post("/step-up/<token>/verify")
    def confirm(token: str) -> Response:
        credential = _credential()
        if credential is None:
            with speak(""):
                return _answer(False, _("Expected the passkey's answer as JSON."), 400)
        whose = ""
        try:
            confirmed = stepup.verify(token, credential)
            link = confirmed.link
            whose = link.user
            with speak(whose):  # the engine's refusals are sentences this person reads
                decision = engine.confirm(
                    link.request,
                    link.user,
                    clicked=link.clicked,
                    credential=confirmed.credential_id,
                )
        except BotError as error:
            refused = error.link if isinstance(error, StepUpRefused) else None  # once taken
            engine.audit.record(
                "request.step_up_refused",
                request=refused.request if refused else "",
                actor=refused.user if refused else "",
                credential=str(credential.get("id", ""))[:200],
                why=str(error)[:200],
            )
            with speak(refused.user if refused else whose):
                said = translated(str(error)) if refused or not whose else user_message(error)
                return _answer(False, said, 400)
        done = decision.request
        with speak(whose):
            if not decision.changed:
                return _answer(
                    False,
                    _("{id} is {state}: your confirmation changed nothing.").format(
                        id=done.id, state=_(done.state.value)
                    ),
                    409,
                )
            return _answer(
                True,
                _(
                    "Confirmed: your approval of {id} counts ({count} of {required}; the "
                    "request is {state}). You can go back to Slack."
                ).format(
                    id=done.id,
                    count=len(done.approvals),
                    required=done.required,
                    state=_(done.state.value),
                ),
            )

    return bp
