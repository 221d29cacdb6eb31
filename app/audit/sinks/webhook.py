"""`webhook+https://HOST/PATH`: batches of OCSF events POSTed as JSON, signed like the ticket
callbacks (`X-MySafe-Bot-Timestamp`, `X-MySafe-Bot-Signature: sha256=<HMAC of "ts.body">`, with
`MYSAFE_BOT_AUDIT_WEBHOOK_SECRET`). The body is `{"events":[…]}`; any 2xx answer takes the
batch, anything else (or no answer within the timeout) means it goes again. The receiver drops
a repeat by `metadata.uid`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import requests

from app.audit.log import Entry
from app.audit.sinks import ocsf
from app.audit.sinks.base import SinkError
from app.foundations.sink_urls import public_name


class WebhookSink:
    def __init__(
        self,
        url: str,
        *,
        sign: Callable[[bytes], dict[str, str]],
        session: requests.Session | None = None,
        timeout: float = 10.0,
        batch: int = 100,
    ) -> None:
        parts = urlsplit(url)
        scheme = parts.scheme.removeprefix("webhook+")
        self.url = urlunsplit((scheme, parts.netloc, parts.path or "/", parts.query, ""))
        self.name = public_name(url)
        self.sign = sign
        self.session = session or requests.Session()
        self.timeout = timeout
        self.batch = batch

    def send(self, entries: list[Entry]) -> None:
        body = json.dumps(
            {"events": [ocsf.event(e) for e in entries]}, separators=(",", ":"), ensure_ascii=False
        ).encode()
        headers = {"Content-Type": "application/json", **self.sign(body)}
        try:
            answer = self.session.post(self.url, data=body, headers=headers, timeout=self.timeout)
        except requests.RequestException as error:
            raise SinkError(f"{self.name}: {type(error).__name__}") from error
        if not 200 <= answer.status_code < 300:
            raise SinkError(f"{self.name}: HTTP {answer.status_code}")

    def close(self) -> None:
        self.session.close()
