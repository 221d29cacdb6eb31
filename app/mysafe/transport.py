"""HTTP to MySafe: one transport per process (urllib3's pools), TLS, timeouts and the retry policy.

Retries follow `mysafe-api.md` rule 3: about three tries with backoff on connection errors,
429, 502, 503 and 504 — for reads, updates, enable/disable and the token call. A create is
never repeated: if its answer was lost, MySafe may already have made the entry.
"""

from __future__ import annotations

import json as _json
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, cast
from urllib.parse import urlencode, urlsplit

import urllib3
from requests.utils import get_encoding_from_headers
from urllib3.exceptions import MaxRetryError
from urllib3.util import make_headers
from urllib3.util.retry import Retry

from app.foundations.http_pools import Pools, environ_proxy, verified

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


class Answer:
    """MySafe's answer as the client reads it: the status, its reason, the headers, the body."""

    __slots__ = ("content", "headers", "reason", "status_code")

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        self.status_code: int = response.status
        self.reason: str = response.reason or ""
        self.headers = response.headers
        self.content: bytes = response.data

    @property
    def text(self) -> str:
        """The body as text, in the charset its headers name (as `requests` reads it)."""
        charset = get_encoding_from_headers(cast(Any, self.headers)) or "utf-8"
        try:
            return self.content.decode(charset, errors="replace")
        except LookupError:  # a charset Python does not know
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; `ValueError` when it is not."""
        return _json.loads(self.content)


class Transport:
    """HTTP to MySafe through urllib3's pools (`app.foundations.http_pools`): one per proxy the
    environment gives MySafe's host, the retry policy on every call, certificates verified
    against the operator's bundle (`MYSAFE_CA_BUNDLE`), else the environment's, else certifi's.

    It sends what `requests` sent for the client's calls (the same URL for a listing's query,
    the same JSON or form body, the same headers); through `requests`' own layers a call cost
    1.7 times the CPU (`benchmarks/README.md`, issue #33)."""

    def __init__(
        self, *, ca_bundle: str | None = None, retry: Retry | None = None, pool_size: int = 20
    ) -> None:
        self.retry = retry or retry_policy()
        self.pools = Pools(**verified(ca_certs=ca_bundle, maxsize=pool_size, block=False))

    def request(
        self,
        method: str,
        url: str,
        *,
        timeout: float,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> Answer:
        """One exchange, retried as the policy says; urllib3's errors are raised as they come
        (`MaxRetryError` once the tries are spent)."""
        body, sent = _body(json, data)
        if auth is not None:
            sent.update(make_headers(basic_auth=f"{auth[0]}:{auth[1]}"))
        sent.update(headers or {})
        answer = self.pools.through(environ_proxy(url)).request(
            method,
            _with_query(url, params),
            body=body,
            headers=sent,
            retries=self.retry,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
        )
        return Answer(answer)

    def close(self) -> None:
        self.pools.close()


#: What every call sends, as the `requests` session sent it.
HEADERS = {
    "Accept": "application/json",
    "Accept-Encoding": "gzip, deflate",
    "User-Agent": "mysafe-bot/0.1",
}


def _body(json: Any, data: Mapping[str, str] | None) -> tuple[bytes | None, dict[str, str]]:
    """The body (JSON, else a form) and the headers it goes with, as `requests` encodes them."""
    if json is not None:
        encoded = _json.dumps(json, allow_nan=False).encode()
        return encoded, {**HEADERS, "Content-Type": "application/json"}
    if data:
        encoded = urlencode(list(data.items()), doseq=True).encode()
        return encoded, {**HEADERS, "Content-Type": "application/x-www-form-urlencoded"}
    return None, dict(HEADERS)


def _with_query(url: str, params: Mapping[str, Any] | None) -> str:
    """`url` with `params` (those not None) as its query, as `requests` writes it."""
    given = [(k, v) for k, v in (params or {}).items() if v is not None]
    if not given:
        return url
    return f"{url}{'&' if urlsplit(url).query else '?'}{urlencode(given, doseq=True)}"
