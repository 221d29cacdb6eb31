"""`splunk+https://HOST:8088[/services/collector/event]?batch=N&index=I&sourcetype=S`: Splunk
HTTP Event Collector, with `Authorization: Splunk <MYSAFE_BOT_AUDIT_HEC_TOKEN>`.

A batch is one POST of concatenated event objects (`{"time":…,"source":"mysafe-bot",
"sourcetype":"ocsf","event":{…OCSF…}}`) on this sink's own request channel
(`X-Splunk-Request-Channel`, a UUID). When the token has indexer acknowledgement enabled, HEC
answers with an `ackId`, and the batch counts as taken only once `/services/collector/ack`
says it was indexed (polled until `ack_timeout`, default 60 s; after that it is sent again).
Without it, HEC's `{"code":0}` is the acknowledgement: Splunk documents that events so taken
may still be lost before indexing, which is what indexer acknowledgement is for.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from urllib.parse import parse_qs, urlsplit, urlunsplit

import requests

from app.audit.log import Entry
from app.audit.sinks import ocsf
from app.audit.sinks.base import SinkError
from app.foundations.sink_urls import hec_batch, public_name

EVENT_PATH = "/services/collector/event"
ACK_PATH = "/services/collector/ack"


class HecSink:
    def __init__(
        self,
        url: str,
        *,
        token: str,
        session: requests.Session | None = None,
        timeout: float = 10.0,
        ack_timeout: float = 60.0,
    ) -> None:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        scheme = parts.scheme.removeprefix("splunk+")
        path = parts.path if parts.path not in ("", "/") else EVENT_PATH
        self.event_url = urlunsplit((scheme, parts.netloc, path, "", ""))
        self.ack_url = urlunsplit((scheme, parts.netloc, ACK_PATH, "", ""))
        self.name = public_name(url)
        self.batch = hec_batch(url)
        self.fields = {k: query[k][0] for k in ("index", "sourcetype", "source", "host") if k in query}
        self.fields.setdefault("source", "mysafe-bot")
        self.fields.setdefault("sourcetype", "ocsf")
        self.channel = str(uuid.uuid4())
        self.token = token
        self.session = session or requests.Session()
        self.timeout = timeout
        self.ack_timeout = ack_timeout
        self._stop = threading.Event()

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Splunk {self.token}",
            "X-Splunk-Request-Channel": self.channel,
            "Content-Type": "application/json",
        }

    def body(self, entries: list[Entry]) -> bytes:
        events = []
        for entry in entries:
            event = ocsf.event(entry)
            events.append(
                json.dumps(
                    {"time": event["time"] / 1000, **self.fields, "event": event},
                    separators=(",", ":"),
                    ensure_ascii=False,
                )
            )
        return "".join(events).encode()

    def send(self, entries: list[Entry]) -> None:
        answer = self._post(self.event_url, self.body(entries))
        ack = answer.get("ackId")
        if isinstance(ack, int):
            self._await_ack(ack)

    def _post(self, url: str, body: bytes) -> dict[str, object]:
        try:
            answer = self.session.post(
                url,
                data=body,
                headers=self._headers(),
                params={"channel": self.channel},
                timeout=self.timeout,
            )
        except requests.RequestException as error:
            raise SinkError(f"{self.name}: {type(error).__name__}") from error
        try:
            found = answer.json()
        except ValueError:
            found = {}
        if answer.status_code != 200 or not isinstance(found, dict):
            code = found.get("code", "") if isinstance(found, dict) else ""
            raise SinkError(f"{self.name}: HTTP {answer.status_code} code {code}")
        return found

    def _await_ack(self, ack: int) -> None:
        """Poll the channel's acknowledgement until HEC says the batch is indexed."""
        deadline = time.monotonic() + self.ack_timeout
        wait = 0.05
        while True:
            acks = self._post(self.ack_url, json.dumps({"acks": [ack]}).encode()).get("acks")
            if isinstance(acks, dict) and acks.get(str(ack)) is True:
                return
            if time.monotonic() + wait > deadline or self._stop.wait(wait):
                raise SinkError(f"{self.name}: ackId {ack} not indexed in {self.ack_timeout:.0f} s")
            wait = min(wait * 2, 2.0)

    def close(self) -> None:
        self._stop.set()
        self.session.close()
