"""HTTP to MySafe: one `requests.Session` per process, TLS, timeouts and the retry policy.

Retries follow `mysafe-api.md` rule 3: about three tries with backoff on connection errors,
429, 502, 503 and 504 — for reads, updates, enable/disable and the token call. A create is
never repeated: if its answer was lost, MySafe may already have made the entry.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.utils import get_netrc_auth
from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

from app.mysafe.plain_session import PlainSession, given_per_call

RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: `POST /api/mysafe/password` and `POST /api/mysafe/secretapi`: the two creates.
_CREATE_PATH = re.compile(r"/api/mysafe/(password|secretapi)/?$")


def is_create(method: str | None, url: str | None) -> bool:
    return (method or "").upper() == "POST" and bool(_CREATE_PATH.search(urlsplit(url or "").path))


#: `time.monotonic()` by which every MySafe exchange on this thread must be over, retries and
#: Retry-After waits included; None = only the per-call timeout applies. Set by `deadline()`.
_DEADLINE: ContextVar[float | None] = ContextVar("mysafe_deadline", default=None)


@contextmanager
def deadline(at: float) -> Iterator[None]:
    """Bound every MySafe call made inside by `at` (monotonic): an apply may not write after
    its lease has passed, so it may not wait (or retry) past it either."""
    token = _DEADLINE.set(at)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def time_left() -> float | None:
    """Seconds until the current deadline (None when there is none)."""
    at = _DEADLINE.get()
    return None if at is None else at - time.monotonic()


class MySafeRetry(Retry):
    """urllib3's `Retry`, except that a create gets no second try, whatever went wrong, and no
    try (nor its wait) runs past the thread's `deadline`."""

    def increment(  # type: ignore[override]
        self,
        method: str | None = None,
        url: str | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Retry:
        if is_create(method, url):
            # Exhaust at once: urllib3 raises MaxRetryError (or hands back the 5xx response).
            spent = self.new(total=0, connect=0, read=0, status=0, other=0)
            return Retry.increment(spent, method, url, *args, **kwargs)
        return super().increment(method, url, *args, **kwargs)

    def sleep(self, response: Any = None) -> None:
        """Wait before the next try, unless that wait would end past the deadline: then stop
        (urllib3 turns the error into a failed call; the caller retries later, afresh)."""
        left = time_left()
        if left is not None:
            wait = self.get_retry_after(response) if response is not None else None
            wait = self.get_backoff_time() if wait is None else wait
            if wait >= left:
                # No pool to name here: urllib3 only formats it into the message.
                no_time = TimeoutError("no time left to retry")
                raise MaxRetryError(None, "", reason=no_time)  # type: ignore[arg-type]
        super().sleep(response)


def retry_policy(
    *, tries: int = 3, backoff_factor: float = 0.3, backoff_jitter: float = 0.2
) -> MySafeRetry:
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


class EnvironmentOnce(PlainSession):
    """A `requests.Session` that reads the environment's proxies, CA bundle and netrc once
    per host instead of on every call: `requests` scans the whole environment (`NO_PROXY`,
    every `*_proxy` variable) and looks for a netrc file each time, a share of every MySafe
    call's CPU. A call that passes its own proxies, verify, stream or cert is merged afresh,
    as `requests` does."""

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[str, dict[str, Any]] = {}
        self._netrc: dict[str, bool] = {}

    def _without_netrc(self, url: str) -> bool:
        host = _host(url)
        found = self._netrc.get(host)
        if found is None:
            found = self._netrc[host] = get_netrc_auth(url) is not None
        return not found

    def merge_environment_settings(
        self, url: str, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        if given_per_call(proxies, stream, verify, cert):
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        host = _host(url)
        settings = self._environment.get(host)
        if settings is None:
            settings = super().merge_environment_settings(url, {}, None, None, None)
            self._environment[host] = settings
        return {**settings, "proxies": dict(settings["proxies"])}


def _host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def make_session(
    *, ca_bundle: str | None = None, retry: Retry | None = None, pool_size: int = 20
) -> requests.Session:
    """A keep-alive session with the retry policy on every MySafe URL (the environment read
    once per host: `EnvironmentOnce`)."""
    session = EnvironmentOnce()
    adapter = HTTPAdapter(
        max_retries=retry or retry_policy(), pool_connections=pool_size, pool_maxsize=pool_size
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    # Never silently off: system CAs by default, or the operator's bundle.
    session.verify = ca_bundle or True
    session.headers.update({"Accept": "application/json", "User-Agent": "mysafe-bot/0.1"})
    return session
