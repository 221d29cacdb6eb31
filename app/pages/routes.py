"""`/passkeys/<token>` (register a passkey) and `/step-up/<token>` (confirm an approval).

Each page is a little server-rendered HTML (Jinja, every text escaped) and one script of our
own (`static/passkey.js`, calling `navigator.credentials`); the strict Content-Security-Policy
allows nothing else: no inline script or style, no third party, no framing. The only secret
is the one-time token in the path, bound to one Slack user; the page's answers never carry
a referrer or get cached. The ceremony itself is app.approvals.stepup's.

Who is the person? The token says so: it was sent to that Slack user alone (an ephemeral
answer) and works once; and what it confirms must be signed by one of *that user's* passkeys,
so a forwarded or stolen link is useless without their authenticator (docs/step-up.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, render_template_string, request

from app.approvals.engine import Engine
from app.approvals.stepup import Purpose, StepUpRefused
from app.errors import BotError

log = logging.getLogger(__name__)

#: May `user` decide on this request (Slack's approvers, user groups included)? The chat
#: front knows; the page asks it, as a click is checked.
Eligible = Callable[[str, str, str], bool]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
#: A credential's JSON is a few kilobytes; anything larger is not one.
MAX_BODY = 64 * 1024

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{ title }}</title>
<link rel="stylesheet" href="{{ url_for('pages.static', filename='passkey.css') }}">
<script src="{{ url_for('pages.static', filename='passkey.js') }}" defer></script>
</head>
<body>
<main data-ceremony="{{ ceremony }}">
<h1>{{ title }}</h1>
{% for line in lines %}<p>{{ line }}</p>{% endfor %}
{% if ceremony %}<button type="button" id="go">{{ action }}</button>{% endif %}
<p id="status" role="status" aria-live="polite"></p>
<p><a href="slack://open">Back to Slack</a></p>
</main>
</body>
</html>
"""


def _page(
    title: str, lines: list[str], *, ceremony: str = "", action: str = "", status: int = 200
) -> Response:
    html = render_template_string(PAGE, title=title, lines=lines, ceremony=ceremony, action=action)
    return _secured(Response(html, status=status, mimetype="text/html"))


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


def blueprint(engine: Engine, eligible: Eligible) -> Blueprint:
    bp = Blueprint("pages", __name__, static_folder="static", static_url_path="/pages/static")
    stepup = engine.stepup

    @bp.get("/passkeys/<token>")
    def register_page(token: str) -> Response:
        try:
            stepup.peek(token, Purpose.REGISTER)
        except StepUpRefused as error:
            return _page("This link does not work", [str(error)], status=410)
        return _page(
            "Register a passkey",
            [
                "Approvals of sensitive changes may ask you to confirm with a passkey. Register "
                "one here: your device asks for your fingerprint, face or PIN.",
            ],
            ceremony="register",
            action="Register a passkey",
        )

    @bp.get("/step-up/<token>")
    def step_up_page(token: str) -> Response:
        try:
            link = stepup.peek(token, Purpose.CONFIRM)
            change = engine.get(link.request)
        except BotError as error:
            return _page("This link does not work", [str(error)], status=410)
        return _page(
            f"Confirm your approval of {change.id}",
            [
                f"Confirm your approval of {change.id} with your passkey.",
                f"{change.change.verb.value} {change.change.kind.value} "
                f"{change.change.identifier or ''} {change.entry_name}".strip()
                + f", asked by {change.requester_name or change.requester}.",
                "Your approval counts only once your passkey confirms it.",
            ],
            ceremony="confirm",
            action="Confirm with my passkey",
        )

    @bp.post("/passkeys/<token>/options")
    @bp.post("/step-up/<token>/options")
    def options(token: str) -> Response:
        purpose = Purpose.REGISTER if request.path.startswith("/passkeys/") else Purpose.CONFIRM
        if not request.is_json:
            return _answer(False, "Expected JSON.", 415)
        try:
            _, options = stepup.begin(token, purpose)
        except StepUpRefused as error:
            return _answer(False, str(error), 410)
        return _secured(Response(options, mimetype="application/json"))

    @bp.post("/passkeys/<token>/verify")
    def register(token: str) -> Response:
        credential = _credential()
        if credential is None:
            return _answer(False, "Expected the passkey's answer as JSON.", 400)
        try:
            user, passkey = stepup.register(token, credential)
        except StepUpRefused as error:
            return _answer(False, str(error), 400)
        engine.audit.record("passkey.registered", actor=user, credential=passkey.credential_id)
        return _answer(
            True, "Your passkey is registered. You can close this page and go back to Slack."
        )

    @bp.post("/step-up/<token>/verify")
    def confirm(token: str) -> Response:
        credential = _credential()
        if credential is None:
            return _answer(False, "Expected the passkey's answer as JSON.", 400)
        try:
            confirmed = stepup.verify(token, credential)
            link = confirmed.link
            decision = engine.confirm(
                link.request,
                link.user,
                clicked=link.clicked,
                is_approver=eligible(link.request, link.user, "approve"),
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
            return _answer(False, str(error), 400)
        done = decision.request
        if not decision.changed:
            return _answer(
                False, f"{done.id} is {done.state.value}: your confirmation changed nothing.", 409
            )
        return _answer(
            True,
            f"Confirmed: your approval of {done.id} counts ({len(done.approvals)} of "
            f"{done.required}; the request is {done.state.value}). You can go back to Slack.",
        )

    return bp
