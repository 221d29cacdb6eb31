"""The throughput ceiling: a bare Flask app that only verifies a Slack signature.

It is served by gunicorn with the bot's own options (`app.ops.serve.gunicorn_options`, turned into
CLI flags by `benchmarks/harness.py`), so the difference between it and the bot is the bot's own
work per request: Bolt's middleware, command parsing, Redis, the lazy listener, logging.

    gunicorn --chdir benchmarks … 'ceiling_app:create_app()'   (SLACK_SIGNING_SECRET set)
"""

from __future__ import annotations

import os

from flask import Flask, request
from slack_sdk.signature import SignatureVerifier


def create_app() -> Flask:
    verifier = SignatureVerifier(os.environ["SLACK_SIGNING_SECRET"])
    app = Flask(__name__)

    @app.post("/slack/events")
    def events():
        if not verifier.is_valid_request(request.get_data(), request.headers):
            return "invalid signature", 401
        return "", 200

    @app.get("/readyz")
    def readyz():
        return {"status": "ready"}

    return app
