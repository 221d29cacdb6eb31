"""Protocol fakes of PagerDuty's and Opsgenie's on-call APIs, served over loopback HTTP.

Each answers only the one call the bot makes, only with the right token in the provider's own
header, in the provider's own shape:

    PagerDuty  GET /oncalls?schedule_ids[]=ID&include[]=users[&limit=L&offset=O]
                                                                 Authorization: Token token=…
               -> {"oncalls": [{"user": {"id", "email", …}, "schedule": {"id"}, …}],
                   "limit", "offset", "more"}   (25 a page unless asked, 100 at most)
    Opsgenie   GET /v2/schedules/ID/on-calls?flat=true          Authorization: GenieKey …
               -> {"data": {"_parent": {"id"}, "onCallRecipients": ["a@x", …]}}

`on_call[schedule]` is who is on call now; `down` answers 503, `garbage` a page that is not
JSON; `hang` holds every answer until the fake stops (the client's timeout is what ends the call: no test sleeps).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.serving import make_server

TOKEN = "on-call-test-token"


@dataclass
class OnCallFake:
    provider: str
    on_call: dict[str, list[str]] = field(default_factory=dict)
    down: bool = False
    hang: bool = False
    #: Answer 200 with a body that is not the provider's JSON.
    garbage: bool = False
    calls: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self._release = threading.Event()
        self._server: Any = None

    def start(self) -> OnCallFake:
        self._server = make_server("127.0.0.1", 0, self._app(), threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _app(self) -> Flask:
        app = Flask("on-call-fake")

        @app.get("/oncalls")
        def pagerduty() -> Any:
            return self._answer("pagerduty", "Token token=", request.args.get("schedule_ids[]", ""))

        @app.get("/v2/schedules/<schedule>/on-calls")
        def opsgenie(schedule: str) -> Any:
            return self._answer("opsgenie", "GenieKey ", schedule)

        return app

    def _answer(self, provider: str, scheme: str, schedule: str) -> Any:
        self.calls.append({"path": request.path, "args": dict(request.args), "schedule": schedule})
        if provider != self.provider:
            return jsonify(error={"message": "Not Found"}), 404
        if request.headers.get("Authorization") != f"{scheme}{TOKEN}":
            return jsonify(error={"message": "Unauthorized", "code": 2001}), 401
        if self.hang:
            self._release.wait()
        if self.down:
            return jsonify(error={"message": "Service Unavailable"}), 503
        if self.garbage:
            return "<html>maintenance</html>", 200
        people = self.on_call.get(schedule)
        if people is None:
            return jsonify(error={"message": "Not Found"}), 404
        if provider == "pagerduty":
            if request.args.get("include[]") != "users":
                return jsonify(oncalls=[{"user": {"id": "P1", "type": "user_reference"}}])
            limit = min(int(request.args.get("limit", 25)), 100)
            offset = int(request.args.get("offset", 0))
            return jsonify(
                oncalls=[
                    {
                        "escalation_level": 1,
                        "schedule": {"id": schedule, "type": "schedule_reference"},
                        "user": {"id": f"P{n}", "type": "user", "email": email, "name": email},
                    }
                    for n, email in enumerate(people)
                ][offset : offset + limit],
                limit=limit,
                offset=offset,
                more=offset + limit < len(people),
            )
        return jsonify(
            data={"_parent": {"id": schedule, "enabled": True}, "onCallRecipients": people},
            took=0.01,
            requestId="req-1",
        )
