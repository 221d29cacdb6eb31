"""Slack's Socket Mode server, faked over a real websocket on loopback.

The Slack Web API fake answers `apps.connections.open` with `url()` (a fresh ticket each time,
as Slack hands out). On each connection this server sends `{"type": "hello"}`, then whatever
envelopes a test sends, and records what the bot sends back: acks (`{"envelope_id": …}`, with
an optional `payload`). `refresh()` sends Slack's `disconnect` message, after which the client
must fetch a new URL and reconnect. Tests wait on a condition variable, never on a sleep.

Envelopes follow https://docs.slack.dev/apis/events-api/using-socket-mode/: `envelope_id`,
`type` (`slash_commands`, `interactive`, `events_api`), `payload` (the same JSON that HTTP
mode posts), `accepts_response_payload`, and for events `retry_attempt` / `retry_reason`.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from tests.support import slack_requests


@dataclass
class Connection:
    """One websocket the bot opened: where it came in, and whether it is gone."""

    path: str
    websocket: ServerConnection
    closed: bool = False


@dataclass
class SocketModeFake:
    connections: list[Connection] = field(default_factory=list)
    #: envelope_id -> the bot's ack, as sent (`{"envelope_id": …, "payload": …}`)
    acks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._tickets = itertools.count(1)
        self._server: Server | None = None
        self.port = 0

    # --- test-side API -----------------------------------------------------------------------

    def url(self) -> str:
        """What `apps.connections.open` hands out: a new ticket on every call."""
        return f"ws://127.0.0.1:{self.port}/link/?ticket={next(self._tickets)}"

    def send(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool = False,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> str:
        """Deliver one envelope on the newest open connection; returns its envelope_id."""
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
            "retry_attempt": retry_attempt,
            "retry_reason": retry_reason,
        }
        self.wait_connected().websocket.send(json.dumps(envelope))
        return envelope_id

    def refresh(self, reason: str = "refresh_requested") -> Connection:
        """Ask the bot to reconnect, as Slack does every few hours; returns the old connection."""
        old = self.wait_connected()
        old.websocket.send(
            json.dumps(
                {"type": "disconnect", "reason": reason, "debug_info": {"host": "socket-mode-fake"}}
            )
        )
        return old

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Block until `predicate()` is truthy (re-checked on every connection, ack or close)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (value := predicate()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"timed out; connections: {self.connections}, acks: {list(self.acks)}"
                    )
                self._cond.wait(remaining)
            return value

    def wait_connected(self, count: int = 1, timeout: float = 10.0) -> Connection:
        """The newest open connection, once at least `count` have been opened in all."""
        return self.wait_for(lambda: len(self.connections) >= count and self._open(), timeout)

    def wait_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        return self.wait_for(lambda: self.acks.get(envelope_id), timeout)

    # --- Slack's payloads, as HTTP mode builds them (tests/support/slack_requests.py) --------------------

    def command(self, user: str, text: str, response_url: str) -> str:
        return self.send(
            "slash_commands",
            slack_requests.command_form(user, text, response_url),
            accepts_response_payload=True,
        )

    def click(self, user: str, action_id: str, value: str, response_url: str) -> str:
        return self.send(
            "interactive", slack_requests.click_payload(user, action_id, value, response_url)
        )

    def submit_view(
        self,
        user: str,
        callback_id: str,
        values: dict[str, dict[str, Any]],
        *,
        private_metadata: str = "",
    ) -> str:
        payload = slack_requests.view_submission(
            user, callback_id, values, private_metadata=private_metadata
        )
        return self.send("interactive", payload, accepts_response_payload=True)

    def event(self, event: dict[str, Any], *, retry_attempt: int = 0) -> str:
        return self.send(
            "events_api",
            slack_requests.event_callback(event),
            retry_attempt=retry_attempt,
            retry_reason="timeout" if retry_attempt else "",
        )

    # --- server ------------------------------------------------------------------------------

    def start(self) -> SocketModeFake:
        self._server = serve(self._handle, "127.0.0.1", 0, compression=None, close_timeout=1)
        self.port = self._server.socket.getsockname()[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()

    def _open(self) -> Connection | None:
        return next((c for c in reversed(self.connections) if not c.closed), None)

    def _handle(self, websocket: ServerConnection) -> None:
        connection = Connection(websocket.request.path if websocket.request else "", websocket)
        websocket.send(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "debug_info": {"host": "socket-mode-fake"},
                    "connection_info": {"app_id": "A1"},
                }
            )
        )
        self._notify(lambda: self.connections.append(connection))
        try:
            for message in websocket:
                ack = json.loads(message)
                if "envelope_id" in ack:
                    self._notify(lambda ack=ack: self.acks.__setitem__(ack["envelope_id"], ack))
        except ConnectionClosed:
            pass  # the client dropped the socket without a close frame, as slack-sdk does
        finally:
            self._notify(lambda: setattr(connection, "closed", True))

    def _notify(self, change: Callable[[], Any]) -> None:
        with self._cond:
            change()
            self._cond.notify_all()
