"""Answers through a `response_url`, over pooled keep-alive connections.

Bolt's `respond` makes a slack-sdk `WebhookClient` per answer, and that opens a new TCP (and
TLS) connection per call. A job answers the person once, often within a second of the ack; one
`requests.Session` per process keeps the connection to Slack open between answers. Only a
connection that failed before anything was sent is tried again: a repeated post may show twice.
Inside a job, each answer is claimed first (`app.jobs.consumer.may_send`) and confirmed once
Slack has it: a job taken over after its answer was confirmed does not answer again, and one
taken over while the answer was in flight answers again rather than risk silence (the answer
replaces the "Working on" line, so the person reads it once).

The environment (`HTTPS_PROXY`, `NO_PROXY`, `REQUESTS_CA_BUNDLE`) is read once, not per answer:
`requests` reads it again on every call (`trust_env`), a fifth of each post's CPU (measured:
1.2 ms per post against 1.0 ms).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from app.jobs.consumer import may_send, message_sent

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
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get(
        "CURL_CA_BUNDLE") or True
    session.trust_env = False  # proxies are found once per host instead (`_proxies`)
    return session


@lru_cache(maxsize=64)
def _proxies(scheme_and_host: str) -> dict[str, str]:
    """The proxies the environment gives this host (none when NO_PROXY lists it), as
    `requests` would find them on each call."""
    return dict(requests.utils.get_environ_proxies(scheme_and_host))


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
            message_sent()

        return respond

    def post(self, url: str, message: dict[str, Any]) -> None:
        """Post one answer; a failure is logged (status only: the URL is a credential)."""
        try:
            parts = urlsplit(url)
            answer = self.session.post(url, json=message, timeout=TIMEOUT,
                                       proxies=_proxies(f"{parts.scheme}://{parts.netloc}/"))
        except requests.RequestException as error:
            log.warning("answer not delivered", extra={"event": "slack.respond_failed",
                                                       "error": type(error).__name__})
            return
        if answer.status_code >= 400:
            log.warning("answer refused", extra={"event": "slack.respond_refused",
                                                 "status": answer.status_code})

    def close(self) -> None:
        self.session.close()
