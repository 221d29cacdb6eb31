"""`syslog+tls://HOST:PORT`: RFC 5424 messages carrying CEF, over TLS with RFC 5425 framing.

Each record is one message,

    <110>1 TIMESTAMP HOST mysafe-bot - EVENT [mysafe@32473 seq="SEQ"] CEF:…

(facility 13 log audit, severity 6 informational; `seq` is the record's stable id), framed as
`LENGTH SP MESSAGE` (octet counting). The certificate is checked against the system CAs, or
`?ca=/path/ca.pem`.

Syslog has no acknowledgement: a batch counts as taken once TLS has written all of it and the
connection is still up. A receiver that dies with bytes in flight may lose that batch; a
dropped connection makes the next batch go out again on a new one, from the stored position.
"""

from __future__ import annotations

import json
import socket
import ssl
from urllib.parse import urlsplit

from app.audit.log import Entry
from app.audit.sinks import cef
from app.audit.sinks.base import SinkError
from app.foundations.sink_urls import tls_context

FACILITY_SEVERITY = 13 * 8 + 6
#: The structured-data element that carries the stable id. 32473 is the enterprise number
#: RFC 5612 sets aside for documentation: this element is the bot's own, not a registered one.
SD_ID = "mysafe@32473"


def message(entry: Entry, *, hostname: str) -> bytes:
    """One RFC 5424 message (MSG is the CEF line, UTF-8)."""
    record = json.loads(entry.body)
    ts = str(record.get("ts") or "-").replace("+00:00", "Z")
    msgid = "".join(c for c in str(record.get("event") or "-") if 33 <= ord(c) <= 126)[:32] or "-"
    sd = f'[{SD_ID} seq="{entry.seq}"]'
    head = f"<{FACILITY_SEVERITY}>1 {ts} {hostname or '-'} mysafe-bot - {msgid} {sd} "
    return head.encode() + cef.line(entry).encode()


def frame(payload: bytes) -> bytes:
    """RFC 5425 octet-counting: the length in decimal, a space, the message."""
    return str(len(payload)).encode() + b" " + payload


class SyslogSink:
    def __init__(self, url: str, *, timeout: float = 10.0, batch: int = 500) -> None:
        self.context = tls_context(url)
        parts = urlsplit(url)
        self.host, self.port = str(parts.hostname), int(parts.port or 0)
        self.name = f"syslog+tls://{self.host}:{self.port}"
        self.batch = batch
        self.timeout = timeout
        self.hostname = socket.gethostname()
        self._conn: ssl.SSLSocket | None = None

    def _connect(self) -> ssl.SSLSocket:
        if self._conn is not None and _closed_by_peer(self._conn, self.timeout):
            self.close()
        if self._conn is None:
            raw = socket.create_connection((self.host, self.port), timeout=self.timeout)
            try:
                self._conn = self.context.wrap_socket(raw, server_hostname=self.host)
            except BaseException:
                raw.close()
                raise
        return self._conn

    def send(self, entries: list[Entry]) -> None:
        data = b"".join(frame(message(e, hostname=self.hostname)) for e in entries)
        try:
            self._connect().sendall(data)
        except (OSError, ssl.SSLError) as error:
            self.close()
            raise SinkError(f"{self.name}: {type(error).__name__}") from error

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


def _closed_by_peer(conn: ssl.SSLSocket, timeout: float) -> bool:
    """The receiver hung up (or said something, which a syslog receiver never does): writing
    now would only fill a dead socket's buffer, so connect afresh first."""
    conn.settimeout(0)
    try:
        conn.recv(1)
        return True
    except (ssl.SSLWantReadError, BlockingIOError):
        return False
    except OSError:
        return True
    finally:
        conn.settimeout(timeout)
