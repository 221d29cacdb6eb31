"""A recording fake of the Slack Web API (and of `response_url`s), served over loopback HTTP.

The app reaches it through `SLACK_API_URL`. Every call is recorded; tests wait for the calls
they expect with `wait_for` (a condition variable, not a sleep), then read what was sent.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, jsonify, request

from app.sandbox.keep_alive import LoopbackServer
from tests.support.slack_limits import message_refusal, refusal
from tests.support.slack_reading import misread_labels


@dataclass
class SlackCall:
    method: str
    args: dict[str, Any]
    token: str = ""
    #: The caller's TCP port: calls with one port came over one (keep-alive) connection.
    peer: int = 0

    def blocks_text(self) -> str:
        """Everything a person would read in this call (text and blocks), for assertions."""
        return json.dumps(
            {k: v for k, v in self.args.items() if k in ("text", "blocks", "view", "attachments")}
        )


@dataclass
class SlackFake:
    users_by_email: dict[str, str] = field(default_factory=dict)
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    calls: list[SlackCall] = field(default_factory=list)
    #: Channels the bot has not been invited to: posts there fail with `not_in_channel`.
    not_member: set[str] = field(default_factory=set)
    #: (method, error) of every call refused for breaking Slack's limits.
    refused: list[tuple[str, str]] = field(default_factory=list)
    #: Labels of the views the bot opened that read wrong as Slack shows them (`misread_labels`).
    misread: list[str] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    #: The caller's TCP port of each `response_url` answer, in order (as `SlackCall.peer`).
    response_peers: list[int] = field(default_factory=list)
    failures: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: Web API method -> (min, max) seconds it takes to answer: Slack's own jitter, so calls
    #: sent in one order can land in another. Calls are recorded when they land.
    latency: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: `users.info` answers: user ID -> fields over a plain member of team T1 (e.g.
    #: {"is_restricted": True}, {"deleted": True}, {"is_bot": True}, {"team_id": "T2"}).
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: User and group IDs Slack does not know (`users.info`: user_not_found,
    #: `usergroups.users.list`: no_such_subteam).
    unknown: set[str] = field(default_factory=set)
    #: Socket Mode: the websocket URL `apps.connections.open` hands out (tests/socket_mode_fake.py).
    socket_mode_url: Callable[[], str] | None = None

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._in_flight = 0
        #: The most Web API calls of `latency`'s or `hold`'s methods in progress at once.
        self.most_in_flight = 0
        self._holds: dict[str, threading.Event] = {}
        self._ts = itertools.count(1)
        self._server: LoopbackServer | None = None
        self._held: threading.Event | None = None
        self.url = ""

    # --- test-side API -----------------------------------------------------------------------

    def fail(
        self, method: str, *, error: str = "internal_error", status: int = 200, times: int = 1
    ) -> None:
        self.failures.setdefault(method, []).extend([{"error": error, "status": status}] * times)

    def calls_to(self, method: str) -> list[SlackCall]:
        with self._cond:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Block until `predicate()` is truthy (re-checked on every recorded call)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"timed out waiting; calls so far: {[c.method for c in self.calls]}"
                    )
                self._cond.wait(remaining)

    def wait_landed(self, timeout: float = 10.0) -> None:
        """Block until no call is still on its way (see `latency`)."""
        self.wait_for(lambda: self._in_flight == 0 or None, timeout)

    def hold(self, method: str) -> threading.Event:
        """From now on calls to `method` wait (unrecorded) until the returned event is set."""
        self._holds[method] = threading.Event()
        return self._holds[method]

    def _arrive(self) -> None:
        with self._cond:
            self._in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self._in_flight)
            self._cond.notify_all()

    def _land(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    def wait_calls(self, method: str, count: int = 1, timeout: float = 10.0) -> list[SlackCall]:
        return self.wait_for(
            lambda: (found := self.calls_to(method)) and len(found) >= count and found, timeout
        )

    def wait_responses(self, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        return self.wait_for(lambda: len(self.responses) >= count and list(self.responses), timeout)

    def everything_sent(self) -> str:
        with self._cond:
            return json.dumps([c.args for c in self.calls] + self.responses)

    def hold_responses(self) -> threading.Event:
        """From now on a `response_url` answer is recorded when it arrives, but not replied to
        until the returned event is set: a sender killed meanwhile delivered it, never knowing."""
        self._held = threading.Event()
        return self._held

    @property
    def response_url(self) -> str:
        return f"{self.url}/response/hook"

    # --- server ------------------------------------------------------------------------------

    def start(self) -> SlackFake:
        """Served with its connections kept open between requests, as Slack's are, so a
        client's connection pool can be seen working (`SlackCall.peer`)."""
        self._server = LoopbackServer(self._app(), name="slack-fake").start()
        self.url = self._server.url
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def _record(self, call: SlackCall | None = None, response: dict | None = None) -> None:
        with self._cond:
            if call is not None:
                self.calls.append(call)
            if response is not None:
                self.responses.append(response)
            self._cond.notify_all()

    def _app(self) -> Flask:
        app = Flask("slack-fake")

        @app.post("/api/<method>")
        def api(method: str):
            args = _arguments()
            delayed = method in self.latency or method in self._holds
            if delayed:
                self._arrive()
                time.sleep(random.uniform(*self.latency.get(method, (0, 0))))
                if method in self._holds:
                    self._holds[method].wait(30)
            token = request.headers.get("Authorization", "").removeprefix("Bearer ")
            failure = self._take_failure(method)
            refused = refusal(method, args)  # what real Slack would refuse, refused here too
            if method.startswith("views.") and isinstance(args.get("view"), dict):
                self.misread += misread_labels(args["view"])
            if refused:
                self.refused.append((method, refused))
            answer = (
                {"ok": False, "error": failure["error"]}
                if failure
                else {"ok": False, "error": refused}
                if refused
                else self._answer(method, args)
            )
            self._record(SlackCall(method, args, token, int(request.environ.get("REMOTE_PORT", 0))))
            if delayed:
                self._land()
            status = failure["status"] if failure else 200
            headers = {"Retry-After": "0"} if status == 429 else {}
            return jsonify(answer), status, headers

        @app.post("/response/<hook>")
        def respond(hook: str):
            message = request.get_json(force=True)
            self.response_peers.append(int(request.environ.get("REMOTE_PORT", 0)))
            self._record(response=message)
            if self._held is not None:
                self._held.wait(30)
            refused = message_refusal(message)
            if refused:
                self.refused.append(("response_url", refused))
            return (refused, 400) if refused else "ok"  # response_url answers in plain text

        return app

    def _take_failure(self, method: str) -> dict[str, Any] | None:
        with self._cond:
            queue = self.failures.get(method)
            return queue.pop(0) if queue else None

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "apps.connections.open" and self.socket_mode_url is not None:
            return {"ok": True, "url": self.socket_mode_url()}
        ts = f"{1700000000 + next(self._ts)}.000100"
        channel = args.get("channel", "")
        if method == "chat.postMessage":
            if channel in self.not_member:
                return {"ok": False, "error": "not_in_channel"}
            # A DM sent to a user ID lands in, and is answered with, the DM's own channel ID.
            landed = dm_channel(channel) if channel[:1] in ("U", "W") else channel
            return {"ok": True, "channel": landed, "ts": ts, "message": {"ts": ts}}
        if method == "chat.update":
            if channel[:1] in ("U", "W"):  # a message is updated where it is, never by user ID
                return {"ok": False, "error": "channel_not_found"}
            return {"ok": True, "channel": channel, "ts": args.get("ts")}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": ts}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(args.get("users", "X"))[1:]}}
        if method == "users.lookupByEmail":
            user = self.users_by_email.get(args.get("email", ""))
            return (
                {"ok": True, "user": {"id": user}}
                if user
                else {"ok": False, "error": "users_not_found"}
            )
        if method == "users.info":
            user = args.get("user", "")
            if user in self.unknown:
                return {"ok": False, "error": "user_not_found"}
            return {
                "ok": True,
                "user": {
                    "id": user,
                    "team_id": "T1",
                    "deleted": False,
                    "is_bot": False,
                    "is_restricted": False,
                    "is_ultra_restricted": False,
                    # Slack adds the person's language only when asked (include_locale).
                    **({"locale": "en-US"} if _truthy(args.get("include_locale")) else {}),
                    **{
                        k: v
                        for k, v in self.profiles.get(user, {}).items()
                        if k != "locale" or _truthy(args.get("include_locale"))
                    },
                },
            }
        if method == "usergroups.users.list":
            if args.get("usergroup") in self.unknown:
                return {"ok": False, "error": "no_such_subteam"}
            return {"ok": True, "users": self.usergroups.get(args.get("usergroup", ""), [])}
        if method in ("views.open", "views.update", "views.push", "views.publish"):
            return {"ok": True, "view": {"id": "V" + ts.replace(".", ""), "hash": ts}}
        if method == "auth.test":
            return {"ok": True, "user_id": "UBOT", "bot_id": "BBOT", "team_id": "T1"}
        if method == "conversations.info":
            return {
                "ok": True,
                "channel": {
                    "id": channel,
                    "name": "vault-approvals",
                    "is_member": channel not in self.not_member,
                },
            }
        return {"ok": True}


def dm_channel(user_id: str) -> str:
    """The ID of the bot's DM with a person, as this fake names it: `UALICE` -> `DALICE`."""
    return "D" + user_id[1:]


def _arguments() -> dict[str, Any]:
    if request.is_json:
        return dict(request.get_json(silent=True) or {})
    args: dict[str, Any] = dict(request.form)
    for key in ("blocks", "view", "attachments"):
        if isinstance(args.get(key), str):
            with contextlib.suppress(ValueError):
                args[key] = json.loads(args[key])
    return args


def _truthy(value: object) -> bool:
    """A Web API boolean as the form or JSON body carries it (`true`, `1`, True)."""
    return str(value).lower() in ("true", "1")
