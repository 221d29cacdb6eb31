"""`POST /slack/events` before Bolt: the signature, the payload's shape, Slack's retries, and the
acks that need no Bolt (a `/mysafe` command, a click on a durable button).

Measured under wrk, Bolt's dispatch (middleware chain, listener matching, a `BoltContext` with
its `WebClient`, argument injection) cost more than storing the job itself, and Flask's request
machinery (a request context, a `Request` with its headers, the response object, the hooks)
nearly as much. So `Intake` answers this route as plain WSGI, in front of Flask, for nearly all
of the traffic: it reads the body once, checks the signature, reads the payload, and acks a
command or durable click through the same functions Bolt's listeners call (`Commands.take`,
`Button.take`), so the answer is the same on either path. Each request it answers is
counted in `/metrics` as Flask's hook counts the rest. Everything else goes on, its body
untouched, to the Flask route and Bolt: events, view submissions, the form verbs (`login`,
`rotate`, `create`), the clicks that open a modal (Deny, View change), a body without a
length or past Flask's limit; Socket Mode deliveries never pass through here.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from slack_sdk.signature import SignatureVerifier

from app.foundations import metrics
from app.slack.bolt_request import read_body
from app.slack.listeners import actions
from app.slack.listeners.commands.mysafe import COMMAND, Commands
from app.slack.payloads import problem

log = logging.getLogger(__name__)

ROUTE = "/slack/events"
#: What Bolt's `ack(text=…)` sends: the text alone, as plain text (Slack shows it ephemeral).
TEXT = "text/plain;charset=utf-8"
#: What Flask sends for a refusal with an empty body (401, 400, a dropped retry).
EMPTY = "text/html; charset=utf-8"

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass(frozen=True)
class Answer:
    """What the route answers without Bolt."""

    status: int
    text: str = ""
    content_type: str = EMPTY


def answer(
    commands: Commands,
    clicks: actions.Deps,
    verifier: SignatureVerifier,
    raw: bytes,
    *,
    timestamp: str | None,
    signature: str | None,
    retry: str | None,
    mimetype: str | None,
) -> Answer | None:
    """The route's answer before Bolt, after doing what its Bolt listener would; None for a
    request Bolt must handle (nothing has been done then). Both the WSGI path and the Flask
    route decide here."""
    if not signed(verifier, raw, timestamp, signature):
        return Answer(401)  # before reading anything of the body
    try:
        body = read_body(raw.decode("utf-8", "replace"), mimetype)
        why = problem(body)
    except Exception as error:  # noqa: BLE001 - a malformed body: one log line, a 400
        # Malformed input is not a bug of ours: no traceback, only what it was.
        log.warning(
            "unreadable slack payload",
            extra={"event": "slack.malformed", "why": "unreadable", "error": type(error).__name__},
        )
        return Answer(400)
    if why is not None:
        log.warning("malformed slack payload", extra={"event": "slack.malformed", "why": why})
        return Answer(400)
    if is_retry(retry):
        return Answer(200)  # as the front's _drop_retries does on Bolt's path
    return fast_ack(commands, clicks, body)


def fast_ack(commands: Commands, clicks: actions.Deps, body: dict[str, Any]) -> Answer | None:
    """The ack for a request this path takes, after doing what its Bolt listener would; None
    for anything Bolt must handle (nothing has been done then)."""
    if body.get("command") == COMMAND:
        text = commands.take(body)
        return None if text is None else Answer(200, text, TEXT)
    if body.get("type") == "block_actions":
        button = actions.CLICKS.get(body["actions"][0]["action_id"])  # Bolt matches the first
        if button is not None:
            button.take(clicks, body)
            return Answer(200, "", TEXT)
    return None


def signed(
    verifier: SignatureVerifier, raw: bytes, timestamp: str | None, signature: str | None
) -> bool:
    """Slack's signature over this body, checked in constant time; a timestamp that is not a
    number is unsigned too (slack-sdk raises on it: a 500 for anyone who sends one)."""
    try:
        return verifier.is_valid(raw, timestamp, signature)
    except ValueError:
        return False


def is_retry(retry_num: Sequence[str] | str | None) -> bool:
    """Whether `X-Slack-Retry-Num` marks a re-delivery: only a count of 1 or more does.

    Bolt keeps each header as a list. Over HTTP Slack sends the header only on retries, but
    Bolt's Socket Mode adapter turns every envelope's `retry_attempt` into it, so a first
    delivery arrives as "0". A value that is not a number is treated as a retry, as before.
    """
    values = [retry_num] if isinstance(retry_num, str) else list(retry_num or [])
    if not values or not values[0]:
        return False
    try:
        return int(values[0]) >= 1
    except ValueError:
        return True


class Intake:
    """`POST /slack/events` as plain WSGI in front of the Flask app (`app.wsgi_app`); every
    other request, and those `answer` leaves to Bolt, go on to `app` as they came."""

    def __init__(
        self,
        app: WsgiApp,
        commands: Commands,
        clicks: actions.Deps,
        verifier: SignatureVerifier,
        *,
        max_length: int,
    ) -> None:
        self.app = app
        self.commands = commands
        self.clicks = clicks
        self.verifier = verifier
        self.max_length = max_length

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != ROUTE or environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        length = str(environ.get("CONTENT_LENGTH") or "")
        if not length.isdigit() or int(length) > self.max_length:
            return self.app(environ, start_response)  # Flask's own answer: 411-like, 413
        raw = environ["wsgi.input"].read(int(length))
        try:
            found = answer(
                self.commands,
                self.clicks,
                self.verifier,
                raw,
                timestamp=environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP"),
                signature=environ.get("HTTP_X_SLACK_SIGNATURE"),
                retry=environ.get("HTTP_X_SLACK_RETRY_NUM"),
                mimetype=_mimetype(environ.get("CONTENT_TYPE")),
            )
        except Exception:
            # What Flask does with a route that raised: the traceback logged, a bare 500.
            log.exception("slack request failed", extra={"event": "slack.error"})
            found = Answer(500)
        if found is None:
            environ["wsgi.input"] = io.BytesIO(raw)  # Bolt reads the body as it came
            return self.app(environ, start_response)
        metrics.count_http(ROUTE, found.status)
        data = found.text.encode("utf-8")
        start_response(
            f"{found.status} {HTTPStatus(found.status).phrase}",
            [("Content-Type", found.content_type), ("Content-Length", str(len(data)))],
        )
        return [data]


def _mimetype(content_type: str | None) -> str | None:
    """The media type alone, lowercased, as werkzeug's `Request.mimetype` reads it."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    return kind or None
