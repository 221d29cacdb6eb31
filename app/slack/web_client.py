"""slack-sdk's `WebClient`, its calls sent over pooled keep-alive connections.

The stock client sends each call with `urllib.request.urlopen`, which opens a new TCP (and TLS)
connection per call: a sweep telling Slack about thousands of expiries, or a burst of approval
messages, paid a handshake per message. This client changes only the last step, the one
method of slack-sdk's `BaseClient` that performs the HTTP request, and sends it through a
`requests.Session` that keeps connections open (`pooled_session`). Everything around that step
is slack-sdk's own: the request it builds, `SlackResponse`, `SlackApiError`, the retry
handlers (rate limits, connection errors) and their waits. For them the answer looks as
urllib's did: a 2xx is a status, headers and body; anything else is raised as urllib's
`HTTPError`; a connection that fails is urllib's `URLError`, a read that times out a
`TimeoutError`.
"""

from __future__ import annotations

import http.client
import io
from typing import Any, cast
from urllib.error import HTTPError, URLError
from urllib.request import Request

import requests
from requests.adapters import HTTPAdapter
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)

from app.mysafe.plain_session import PlainSession
from app.services import Services
from app.slack.respond import ca_bundle


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


def pooled_session() -> requests.Session:
    """A session that keeps up to 32 connections per host open, with no retries of its own:
    slack-sdk's retry handlers are the one retry policy, connects included."""
    session = PlainSession()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=32)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.verify = ca_bundle() or True
    session.trust_env = False  # the client passes its proxy (slack-sdk's `proxy`) itself
    return session


class PooledWebClient(WebClient):
    """A `WebClient` whose HTTP calls reuse connections; thread-safe as the stock one is."""

    def __init__(self, *args: Any, session: requests.Session | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session = session or pooled_session()

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        if self.ssl is not None:  # an SSLContext of the caller's: only urllib takes one as is
            return super()._perform_urllib_http_request_internal(url, req)
        if not url.lower().startswith(("http://", "https://")):
            return super()._perform_urllib_http_request_internal(url, req)
        proxies = {"http": self.proxy, "https": self.proxy} if self.proxy else None
        try:
            sent = cast(bytes | None, req.data)  # slack-sdk sends bytes
            answer = self.session.request(
                req.get_method(),
                url,
                data=sent,
                headers=dict(req.header_items()),
                timeout=self.timeout,
                proxies=proxies,
            )
        except requests.ConnectTimeout as error:
            raise URLError(error) from error
        except requests.Timeout as error:
            raise TimeoutError(str(error)) from error
        except requests.ConnectionError as error:
            raise URLError(error) from error
        headers = _message(answer.headers)
        if answer.status_code >= 400:
            raise HTTPError(url, answer.status_code, answer.reason, headers, io.BytesIO(answer.content))
        if headers.get_content_type() == "application/gzip":  # admin.analytics.getFile
            return {"status": answer.status_code, "headers": headers, "body": answer.content}
        body = answer.content.decode(headers.get_content_charset() or "utf-8")
        return {"status": answer.status_code, "headers": headers, "body": body}


def _message(headers: Any) -> http.client.HTTPMessage:
    """The answer's headers as urllib hands them to slack-sdk (an `HTTPMessage`)."""
    message = http.client.HTTPMessage()
    for name, value in headers.items():
        message[name] = value
    return message
