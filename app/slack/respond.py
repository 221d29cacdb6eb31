"""Answers through a `response_url`, over pooled keep-alive connections.

Bolt's `respond` makes a slack-sdk `WebhookClient` per answer, and that opens a new TCP (and
TLS) connection per call. A job answers the person once, often within a second of the ack; one
`requests.Session` per process keeps the connection to Slack open between answers. Only a
connection that failed before anything was sent is tried again: a repeated post may show twice.
Inside a job, each answer is claimed first (`app.jobs.consumer.may_send`): a job taken over
from a process killed after its answer went out does not answer again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from app.jobs.consumer import may_send

log = logging.getLogger(__name__)

Respond = Callable[..., None]

#: Seconds per answer; Slack's response_url answers within milliseconds when it is well.
TIMEOUT = 10


def pooled_session(*, pool: int = 32, connect_retries: int = 2) -> requests.Session:
    """A session that keeps up to `pool` connections per host open, retrying only connects
    (nothing was sent yet), `connect_retries` times."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool,
                          max_retries=Retry(total=connect_retries, connect=connect_retries,
                                            read=0, status=0, redirect=0,
                                            backoff_factor=0.2))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class Responder:
    def __init__(self, session: requests.Session | None = None) -> None:
        self.session = session or pooled_session()

    def to(self, response_url: str | None) -> Respond | None:
        """`respond(text=…, response_type=…, replace_original=…)` for this URL, or None."""
        if not response_url:
            return None

        def respond(text: str = "", **options: Any) -> None:
            if not may_send():
                return  # an earlier run of this job answered already
            message = {"text": text, **{k: v for k, v in options.items() if v is not None}}
            self.post(response_url, message)

        return respond

    def post(self, url: str, message: dict[str, Any]) -> None:
        """Post one answer; a failure is logged (status only: the URL is a credential)."""
        try:
            answer = self.session.post(url, json=message, timeout=TIMEOUT)
        except requests.RequestException as error:
            log.warning("answer not delivered", extra={"event": "slack.respond_failed",
                                                       "error": type(error).__name__})
            return
        if answer.status_code >= 400:
            log.warning("answer refused", extra={"event": "slack.respond_refused",
                                                 "status": answer.status_code})

    def close(self) -> None:
        self.session.close()
