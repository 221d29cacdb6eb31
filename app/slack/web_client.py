"""slack-sdk's `WebClient`, its calls sent over pooled keep-alive connections.

The stock client sends each call with `urllib.request.urlopen`, which opens a new TCP (and TLS)
connection per call: a sweep telling Slack about thousands of expiries, or a burst of approval
messages, paid a handshake per message. This client changes only the last step, the one
method of slack-sdk's `BaseClient` that performs the HTTP request, and sends it through a
urllib3 pool that keeps connections open (`app.foundations.http_pools`; `requests` over the
same pool cost a quarter of a millisecond of CPU per call more, see `benchmarks/README.md`).
Everything around that step is slack-sdk's own: the request it builds, `SlackResponse`,
`SlackApiError`, the retry handlers (rate limits, connection errors) and their waits. For
them the answer looks as urllib's did: a 2xx is a status, headers and body; anything else is
raised as urllib's `HTTPError`; a connection that fails is urllib's `URLError`, a read that
times out a `TimeoutError`.
"""

from __future__ import annotations

import http.client
import io
from typing import Any, cast
from urllib.error import HTTPError, URLError
from urllib.request import Request

import urllib3
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

from app.foundations.http_pools import Pools, cause, verified
from app.services import Services

#: No retries of urllib3's own: slack-sdk's retry handlers are the one retry policy, connects
#: included. Redirects are followed, as urllib follows them.
NO_RETRIES = Retry(total=None, connect=0, read=False, status=0, other=0, redirect=10)


def make_web_client(services: Services) -> WebClient:
    """The Web API client: `SLACK_API_URL`, slack-sdk's own retry handlers, and connections
    kept open between calls (`PooledWebClient`)."""
    return PooledWebClient(
        token=services.settings.slack_bot_token,
        base_url=services.settings.slack_api_url,
        timeout=10,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=2),
        ],
    )


class PooledWebClient(WebClient):
    """A `WebClient` whose HTTP calls reuse connections; thread-safe as the stock one is."""

    def __init__(self, *args: Any, pool_size: int = 32, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pools = Pools(**verified(maxsize=pool_size, block=False, retries=NO_RETRIES))

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        if self.ssl is not None:  # an SSLContext of the caller's: only urllib takes one as is
            return super()._perform_urllib_http_request_internal(url, req)
        if not url.lower().startswith(("http://", "https://")):
            return super()._perform_urllib_http_request_internal(url, req)
        try:
            answer = self.pools.through(self.proxy or "").request(
                req.get_method(),
                url,
                body=cast(bytes | None, req.data),  # slack-sdk sends bytes
                headers={name: str(value) for name, value in req.header_items()},
                timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout),
            )
        except urllib3.exceptions.HTTPError as error:
            raise _as_urllib(cause(error)) from error
        headers = _message(answer.headers)
        if answer.status >= 400:
            raise HTTPError(url, answer.status, answer.reason or "", headers, io.BytesIO(answer.data))
        if headers.get_content_type() == "application/gzip":  # admin.analytics.getFile
            return {"status": answer.status, "headers": headers, "body": answer.data}
        body = answer.data.decode(headers.get_content_charset() or "utf-8")
        return {"status": answer.status, "headers": headers, "body": body}


def _as_urllib(error: BaseException) -> Exception:
    """urllib's error for what urllib3 raised: a read that timed out is a `TimeoutError`,
    anything else (a refused or timed-out connect, a dropped connection) a `URLError`."""
    if isinstance(error, ReadTimeoutError):
        return TimeoutError(str(error))
    return URLError(error)


def _message(headers: Any) -> http.client.HTTPMessage:
    """The answer's headers as urllib hands them to slack-sdk (an `HTTPMessage`)."""
    message = http.client.HTTPMessage()
    for name, value in headers.items():
        message[name] = value
    return message
