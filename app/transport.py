"""HTTP to MySafe: one `requests.Session` per process, TLS, timeouts and the retry policy.

Retries follow `mysafe-api.md` rule 3: about three tries with backoff on connection errors,
429, 502, 503 and 504 — for reads, updates, enable/disable and the token call. A create is
never repeated: if its answer was lost, MySafe may already have made the entry.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: `POST /api/mysafe/password` and `POST /api/mysafe/secretapi`: the two creates.
_CREATE_PATH = re.compile(r"/api/mysafe/(password|secretapi)/?$")


def is_create(method: str | None, url: str | None) -> bool:
    return (method or "").upper() == "POST" and bool(_CREATE_PATH.search(urlsplit(url or "").path))


class MySafeRetry(Retry):
    """urllib3's `Retry`, except that a create gets no second try, whatever went wrong."""

    def increment(self, method: str | None = None, url: str | None = None,
                  *args: Any, **kwargs: Any) -> Retry:
        if is_create(method, url):
            # Exhaust at once: urllib3 raises MaxRetryError (or hands back the 5xx response).
            spent = self.new(total=0, connect=0, read=0, status=0, other=0)
            return Retry.increment(spent, method, url, *args, **kwargs)
        return super().increment(method, url, *args, **kwargs)


def retry_policy(*, tries: int = 3, backoff_factor: float = 0.3,
                 backoff_jitter: float = 0.2) -> MySafeRetry:
    """The one retry policy; tests pin `backoff_factor`/`backoff_jitter` to 0."""
    return MySafeRetry(
        total=tries - 1,
        connect=tries - 1,
        read=tries - 1,
        status=tries - 1,
        backoff_factor=backoff_factor,
        backoff_jitter=backoff_jitter,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "PUT", "POST"}),
        raise_on_status=False,
        respect_retry_after_header=True,
    )


def make_session(*, ca_bundle: str | None = None, retry: Retry | None = None,
                 pool_size: int = 20) -> requests.Session:
    """A keep-alive session with the retry policy on every MySafe URL."""
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry or retry_policy(), pool_connections=pool_size,
                          pool_maxsize=pool_size)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    # Never silently off: system CAs by default, or the operator's bundle.
    session.verify = ca_bundle or True
    session.headers.update({"Accept": "application/json", "User-Agent": "mysafe-bot/0.1"})
    return session
