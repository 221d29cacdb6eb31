"""Socket Mode beside HTTP, connected in the background so that Slack being away never stops
the web app (its routes and the ticketing webhook keep serving).

`mysafe-bot serve` asks Slack once, before gunicorn forks, whether it takes the app-level token
(`check_app_token`): a refused token is a configuration error, one line and exit 2. Each web
worker then opens its own connection in a thread (`SocketMode.start`). A transient failure
(Slack unreachable, a 5xx, `ratelimited`) is retried with backoff; `/readyz` says what is
missing until Slack's `hello` has arrived. Once connected, slack-sdk's client keeps the
connection itself: pings, and a new URL when Slack asks for a refresh (`disconnect`).
"""

from __future__ import annotations

import contextlib
import logging
import random
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.client import HTTPException
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from app.foundations.errors import ConfigError
from app.foundations.settings import Settings

log = logging.getLogger(__name__)

#: Slack's answers to `apps.connections.open` that no retry can change: the token itself is
#: refused, or lacks `connections:write`. Anything else (5xx, `ratelimited`, an unreachable
#: host) may pass, and is retried.
REJECTED = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "account_inactive",
        "token_expired",
        "not_allowed_token_type",
        "missing_scope",
    }
)

_ERROR_CODE = re.compile(r"[a-z_]{1,64}")

#: What a retry may survive while talking to Slack: its refusals, the network, broken HTTP.
TRANSIENT = (SlackClientError, OSError, HTTPException)

NOT_YET_CONNECTED = "Socket Mode is not yet connected"
RECONNECTING = "Socket Mode is reconnecting"


def _slack_error(error: SlackApiError) -> str:
    """Slack's error code from a refused call, or its HTTP status: never the body (slack-sdk
    puts a non-JSON body, such as a proxy's error page, in `error`)."""
    answer = error.response.get("error")
    if isinstance(answer, str) and _ERROR_CODE.fullmatch(answer):
        return answer
    return f"HTTP {error.response.status_code}"


def _rejected(code: str) -> str:
    return (
        f"Slack rejected the app-level token ({code}); create one with the "
        "connections:write scope under Basic Information > App-Level Tokens"
    )


def check_app_token(settings: Settings, *, timeout: float = 5.0) -> None:
    """Fail start-up on an app-level token Slack refuses; let anything else wait for the workers.

    One `apps.connections.open` call, exactly what a worker will make. The URL it hands out is
    left unused (Slack lets it expire).
    """
    client = WebClient(base_url=settings.slack_api_url, timeout=int(timeout))
    try:
        client.apps_connections_open(app_token=settings.slack_app_token)
    except SlackApiError as error:
        code = _slack_error(error)
        if code in REJECTED:
            raise ConfigError("SLACK_APP_TOKEN", _rejected(code)) from None
        _not_yet(code)
    except TRANSIENT as error:
        _not_yet(type(error).__name__)


def _not_yet(reason: str) -> None:
    log.warning(
        "Slack did not open a Socket Mode connection at start-up; each web worker keeps "
        "trying while HTTP serves",
        extra={"event": "slack.socket_mode.unavailable", "reason": reason},
    )


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter; tests pin `jitter` (and may shrink `base`)."""

    base: float = 1.0
    cap: float = 60.0
    jitter: Callable[[], float] = field(default=random.random)

    def delay(self, attempt: int) -> float:
        """Seconds before try `attempt + 1`: half to all of min(cap, base * 2^attempt)."""
        return min(self.cap, self.base * 2 ** min(attempt, 32)) * (0.5 + self.jitter() / 2)


class SocketMode:
    """One web worker's Socket Mode connection, opened in the background and reported to /readyz.

    The first connection is this class's job (slack-sdk's client raises when its first
    `apps.connections.open` fails and never tries again); after that the client reconnects.
    """

    def __init__(self, handler: SocketModeHandler, *, backoff: Backoff | None = None) -> None:
        self.handler = handler
        self._backoff = backoff or Backoff()
        self._stop = threading.Event()
        self._hello = threading.Event()
        self._refused = ""
        self._thread = threading.Thread(target=self._connect, name="socket-mode", daemon=True)
        handler.client.message_listeners.append(self._on_message)

    def start(self) -> SocketMode:
        self._thread.start()
        return self

    def not_ready(self) -> str | None:
        """Why this worker cannot take Slack's deliveries now, or None when it can."""
        if self._refused:
            return f"Socket Mode is off: SLACK_APP_TOKEN: {_rejected(self._refused)}"
        if not self._hello.is_set():
            return NOT_YET_CONNECTED
        return None if self.handler.client.is_connected() else RECONNECTING

    def wait(self, timeout: float | None = None) -> bool:
        """Until the first connection is made or refused for good; False if still trying."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def close(self) -> None:
        """Stop trying and close the connection now (tests; a worker's exit ends the threads).

        slack-sdk's own close waits for its receive loop, which sits in a read for up to 3 s;
        shutting the socket down first ends that read at once.
        """
        self._stop.set()
        self._thread.join(timeout=15)
        client = self.handler.client
        client.auto_reconnect_enabled = False
        session = client.current_session
        if session is not None and session.sock is not None:
            with contextlib.suppress(OSError):
                session.sock.shutdown(socket.SHUT_RDWR)
        self.handler.close()

    def _connect(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            reason = self._try_once()
            if reason is None:
                return
            log.warning(
                "Socket Mode connection failed; retrying",
                extra={"event": "slack.socket_mode.retry", "reason": reason, "attempt": attempt + 1},
            )
            if self._stop.wait(self._backoff.delay(attempt)):
                return
            attempt += 1

    def _try_once(self) -> str | None:
        """Connect once; None when done (connected, or refused for good), else why it failed."""
        try:
            self.handler.connect()
        except SlackApiError as error:
            code = _slack_error(error)
            if code not in REJECTED:
                return code
            self._refused = code
            log.error(
                f"SLACK_APP_TOKEN: {_rejected(code)}",
                extra={"event": "slack.socket_mode.rejected", "reason": code},
            )
        except TRANSIENT as error:
            return type(error).__name__
        return None

    def _on_message(self, client: Any, message: dict[str, Any], raw: str | None) -> None:
        """Slack's `hello` says the connection takes deliveries (sent on every new one)."""
        if message.get("type") == "hello":
            if not self._hello.is_set():
                log.info("socket mode connected", extra={"event": "slack.socket_mode"})
            self._hello.set()


def start_socket_mode(bolt: App, app_token: str, *, backoff: Backoff | None = None) -> SocketMode:
    """Open Socket Mode beside HTTP, in the background (no public URL needed)."""
    return SocketMode(SocketModeHandler(bolt, app_token), backoff=backoff).start()
