"""Answers through a `response_url`, over pooled keep-alive connections.

Bolt's `respond` makes a slack-sdk `WebhookClient` per answer, and that opens a new TCP (and
TLS) connection per call. A job answers the person once, often within a second of the ack; one
pool per process keeps the connection to Slack open between answers. Only a
connection that failed before anything was sent is tried again: a repeated post may show twice.
Inside a job, each answer is claimed first (`app.jobs.consumer.may_send`) and confirmed once
Slack has it: a job taken over after its answer was confirmed does not answer again, and one
taken over while the answer was in flight answers again rather than risk silence (the answer
replaces the "Working on" line, so the person reads it once).

Answers go through urllib3 itself, the pool under `requests`: a job's CPU was half its
answer, and `requests`' own layers (sessions, hooks, prepared requests, environment merging)
were half of that (measured: 0.9 ms of CPU per post through a `requests.Session`, 0.4 ms
through the same urllib3 pool). What `requests` did is kept: the proxy the environment gives
each host (`HTTPS_PROXY`, `NO_PROXY`, read once per host), the CA bundle it would use
(`REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE`, else certifi's), connect-only retries.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import urllib3
from urllib3.util.retry import Retry

from app.foundations.http_pools import Pools, environ_proxy, verified
from app.jobs.consumer import may_send, message_sent

log = logging.getLogger(__name__)

Respond = Callable[..., None]

#: Seconds per answer; Slack's response_url answers within milliseconds when it is well.
TIMEOUT = 10


class Responder:
    """Posts answers to `response_url`s: one pool per proxy (most deployments: one, direct)."""

    def __init__(self, *, pool: int = 32, connect_retries: int = 2) -> None:
        self._pools = Pools(
            **verified(
                maxsize=pool,
                block=False,
                retries=Retry(
                    total=connect_retries,
                    connect=connect_retries,
                    read=0,
                    status=0,
                    redirect=0,
                    backoff_factor=0.2,
                ),
                timeout=urllib3.Timeout(connect=TIMEOUT, read=TIMEOUT),
            )
        )

    def to(self, response_url: str | None) -> Respond | None:
        """`respond(text=…, response_type=…, replace_original=…)` for this URL, or None."""
        if not response_url:
            return None

        def respond(text: str = "", **options: Any) -> None:
            if not may_send():
                return  # an earlier run of this job answered already
            message = {"text": text, **{k: v for k, v in options.items() if v is not None}}
            self.post(response_url, message)
            message_sent()

        return respond

    def post(self, url: str, message: dict[str, Any]) -> None:
        """Post one answer; a failure is logged (status only: the URL is a credential)."""
        try:
            answer = self._pool(url).request(
                "POST",
                url,
                body=json.dumps(message).encode(),
                headers={"Content-Type": "application/json"},
            )
        except (urllib3.exceptions.HTTPError, ValueError) as error:
            log.warning(
                "answer not delivered",
                extra={"event": "slack.respond_failed", "error": type(error).__name__},
            )
            return
        if answer.status >= 400:
            log.warning(
                "answer refused", extra={"event": "slack.respond_refused", "status": answer.status}
            )

    def _pool(self, url: str) -> urllib3.PoolManager:
        return self._pools.through(environ_proxy(url))

    def close(self) -> None:
        self._pools.close()
