"""The Slack front: a Bolt app mounted in Flask at `POST /slack/events`, and in Socket Mode.
Over HTTP, commands and durable clicks are acked without Bolt's dispatch (`app.slack.intake`)
by the same functions its listeners call. Deny and View change open a modal from the click's
`trigger_id`, which Slack accepts only within 3 s: they act in the ack, not as jobs.

Listeners are thin (`app.slack.listeners`, one package per kind): the ack stores the work as a
job in Redis (`app.jobs.queue`) and only then answers Slack; a consumer (`app.jobs.consumer`,
in every web process and in `mysafe-bot worker`, which builds no Bolt app) runs it, and the
answer goes back through `response_url`, a modal update or a DM. A process that dies after the
ack loses nothing: another consumer takes the job over. When Redis cannot take the job, the ack
says so and nothing is done. Bolt verifies every request's signature
and timestamp; a bad one is a 401 before any listener runs. Retried deliveries
(`X-Slack-Retry-Num` of 1 or more; Socket Mode's `retry_attempt`) are acknowledged and
dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Blueprint, Flask, Response, request
from slack_bolt import App, BoltResponse
from slack_bolt.adapter.flask.handler import to_flask_response
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from app.foundations.errors import BotError
from app.jobs.work import Jobs
from app.services import Services
from app.slack import listeners
from app.slack.approvers import Approvers
from app.slack.bolt_request import from_flask
from app.slack.intake import ROUTE, Intake, answer, is_retry
from app.slack.socket_mode import SocketMode, start_socket_mode

log = logging.getLogger(__name__)


class _TokenInClient(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN itself and, given a client as well, warns on every start of
    every process that the token goes unused: the client is made from that very token, so the
    warning says nothing anyone could act on."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


_TOKEN_IN_CLIENT = _TokenInClient()


class SlackFront:
    """The Bolt app with every listener, for a process that answers Slack (a web process):
    built once per process over the listeners' dependencies (`app.slack.listeners.Deps`)."""

    def __init__(self, services: Services, deps: listeners.Deps) -> None:
        self.services = services
        self.deps = deps
        #: Started per web process by `create_app` when SLACK_APP_TOKEN is set.
        self.socket_mode: SocketMode | None = None
        self.bolt = _bolt(services, deps.actions.client)
        self.bolt.use(_drop_retries)
        self.bolt.error(_on_error)
        self.commands = listeners.register(self.bolt, deps)

    @property
    def approvers(self) -> Approvers:
        """Who may decide, as the listeners ask it (a group's members cached)."""
        return self.deps.actions.approvers

    @property
    def jobs(self) -> Jobs:
        """Where this front's acks store their jobs."""
        return self.deps.actions.durable.jobs

    def mount(self, app: Flask, *, socket_mode: bool) -> None:
        """`POST /slack/events` on `app` and, with SLACK_APP_TOKEN (unless `socket_mode` is
        False), the Socket Mode connection."""
        register_slack(app, self)
        token = self.services.settings.slack_app_token
        if token and socket_mode:
            # In the background: Slack being away must not take the HTTP routes down with it.
            self.socket_mode = start_socket_mode(self.bolt, token)

    def not_ready(self) -> str | None:
        """Its Socket Mode connection, when it keeps one and that is down."""
        return self.socket_mode.not_ready() if self.socket_mode is not None else None


def _bolt(services: Services, client: WebClient) -> App:
    bolt_log = logging.getLogger("slack_bolt")
    bolt_log.addFilter(_TOKEN_IN_CLIENT)  # one filter however many fronts are built
    return App(
        signing_secret=services.settings.slack_signing_secret or None,
        client=client,  # carries the token and SLACK_API_URL
        # Ack in the request's own thread: Bolt's default hands the ack to its pool and polls
        # for it every 10 ms (13 ms p50 for `help`, measured; 1.4 ms this way). The work
        # after the ack is a job (see `app.slack.listeners.durable`); only Home tab refreshes,
        # which a later visit redoes, still run in Bolt's lazy listeners.
        process_before_response=True,
        listener_executor=ThreadPoolExecutor(max_workers=4, thread_name_prefix="slack-lazy"),
        token_verification_enabled=False,  # `mysafe-bot doctor` checks the token instead
        # `POST /slack/events` verifies the signature before Bolt reads a byte (see
        # register_slack); Socket Mode deliveries carry none. Verifying again here would
        # only spend the ack's time twice.
        request_verification_enabled=False,
        logger=bolt_log,
    )


def _on_error(error: Exception, body: dict[str, Any]) -> BoltResponse | None:
    """Last resort for what a listener did not handle: log it whole, tell the user little."""
    if isinstance(error, BotError):
        log.warning(
            "unhandled bot error", extra={"event": "slack.error", "error": type(error).__name__}
        )
    else:
        log.error("listener failed", exc_info=error, extra={"event": "slack.error"})
    return None


def _drop_retries(req: Any, resp: Any, next: Callable[[], Any]) -> Any:  # noqa: A002 - Bolt's own name
    """Slack re-sends what it thinks timed out; the first delivery is already being handled."""
    if is_retry(req.headers.get("x-slack-retry-num")):
        return BoltResponse(status=200, body="")
    return next()


def register_slack(app: Flask, front: SlackFront) -> None:
    """Mount `POST /slack/events` — only with a signing secret: without one (Socket Mode only)
    nothing could prove a request came from Slack, so the route does not exist."""
    if not front.services.settings.slack_signing_secret:
        return
    bp = Blueprint("slack", __name__)
    verifier = SignatureVerifier(front.services.settings.slack_signing_secret)

    @bp.post(ROUTE)
    def events() -> Response:
        # What SlackRequestHandler.handle does for a POST, with a body that reads a form
        # mentioning "payload" correctly (see app.slack.bolt_request), and a shape check first:
        # Bolt itself fails with a 500 on some signed but malformed payloads. `Intake` answers
        # nearly every request before Flask; what reaches this route is decided again by the
        # same `answer`, and what that leaves goes to Bolt.
        raw = request.get_data()
        found = answer(
            front.commands,
            front.deps.actions,
            verifier,
            raw,
            timestamp=request.headers.get("X-Slack-Request-Timestamp"),
            signature=request.headers.get("X-Slack-Signature"),
            retry=request.headers.get("X-Slack-Retry-Num"),
            mimetype=request.mimetype or None,
        )
        if found is not None:
            return Response(found.text, status=found.status, content_type=found.content_type)
        try:
            return to_flask_response(front.bolt.dispatch(from_flask(request)))
        except Exception as error:  # noqa: BLE001 - Bolt's own parsing: one log line, a 400
            log.warning(
                "slack payload bolt could not read",
                extra={"event": "slack.unreadable", "error": type(error).__name__},
            )
            return Response("", status=400)

    app.register_blueprint(bp)
    app.wsgi_app = Intake(  # type: ignore[method-assign]
        app.wsgi_app,
        front.commands,
        front.deps.actions,
        verifier,
        max_length=app.config["MAX_CONTENT_LENGTH"],
    )
