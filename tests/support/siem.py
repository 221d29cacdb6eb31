"""Receivers a SIEM would run, written for the tests, over loopback: Splunk's HTTP Event
Collector (with indexer acknowledgement), a signed-webhook endpoint, and a syslog-over-TLS
receiver (RFC 5425 octet counting, a self-signed certificate made here with `cryptography`).

Each keeps what it took in `received` (parsed), can be `down()` (its port closed: connections
refused) and `up()` again on the same port, can be `held` (each request waits until
`release()`: a slow SIEM), and `wait_for(n)` returns once n items arrived (woken, not polled).
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.audit.log import AuditLog
from app.audit.sinks.base import Sink
from app.audit.sinks.position import Positions
from app.audit.sinks.runner import SinkRunner
from app.webhooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify


class _Receiver:
    def __init__(self) -> None:
        self.received: list[Any] = []
        self.requests = 0
        self.changed = threading.Condition()
        self.gate = threading.Event()
        self.gate.set()
        self.port = 0

    def hold(self) -> None:
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()

    def took(self, items: list[Any]) -> None:
        with self.changed:
            self.received.extend(items)
            self.changed.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Any]:
        return self.wait_until(lambda got: len(got) >= count, timeout, f"{count} item(s)")

    def wait_until(self, done: Callable[[list[Any]], bool], timeout: float, what: str) -> list[Any]:
        """What was received, once `done(received)` holds (checked at each arrival)."""
        with self.changed:
            assert self.changed.wait_for(lambda: done(self.received), timeout), (
                f"{type(self).__name__}: not {what} within {timeout} s ({len(self.received)} in)"
            )
            return list(self.received)


class _HttpReceiver(_Receiver):
    def __init__(self) -> None:
        super().__init__()
        self.server: ThreadingHTTPServer | None = None
        self.up()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def up(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def down(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    close = down


class Hec(_HttpReceiver):
    """POST /services/collector/event (batches of concatenated JSON events) and, with `acks`,
    /services/collector/ack: an event batch is answered with an ackId, indexed when the test
    says (`index_all`), or at once with `auto_index`."""

    def __init__(self, token: str, *, acks: bool = True, auto_index: bool = True) -> None:
        self.token = token
        self.acks = acks
        self.auto_index = auto_index
        self.pending: dict[str, dict[int, list[Any]]] = {}
        self.next_ack = 0
        self.channels: set[str] = set()
        self.lock = threading.Lock()
        super().__init__()

    def url(self, **query: str) -> str:
        extra = "&".join(f"{k}={v}" for k, v in query.items())
        return f"splunk+http://127.0.0.1:{self.port}/services/collector/event" + (
            f"?{extra}" if extra else ""
        )

    def index_all(self) -> None:
        with self.lock:
            batches = [b for channel in self.pending.values() for b in channel.values()]
            for channel in self.pending.values():
                for ack in channel:
                    channel[ack] = []
        for batch in batches:
            self.took(batch)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        hec = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hec.gate.wait()
                hec.requests += 1
                if self.headers.get("Authorization") != f"Splunk {hec.token}":
                    return self._answer(401, {"text": "Invalid authorization", "code": 3})
                channel = self.headers.get("X-Splunk-Request-Channel", "")
                if hec.acks and not channel:
                    return self._answer(400, {"text": "Data channel is missing", "code": 10})
                path = self.path.split("?")[0]
                if path == "/services/collector/ack":
                    wanted = json.loads(body)["acks"]
                    with hec.lock:
                        done = hec.pending.get(channel, {})
                        return self._answer(200, {"acks": {str(a): done.get(a) == [] for a in wanted}})
                if path != "/services/collector/event":
                    return self._answer(404, {"text": "not found", "code": 404})
                events = list(_concatenated(body.decode()))
                hec.channels.add(channel)
                if not hec.acks:
                    hec.took(events)
                    return self._answer(200, {"text": "Success", "code": 0})
                with hec.lock:
                    ack = hec.next_ack
                    hec.next_ack += 1
                    hec.pending.setdefault(channel, {})[ack] = events
                if hec.auto_index:
                    hec.index_all()
                return self._answer(200, {"text": "Success", "code": 0, "ackId": ack})

        return Handler


def _concatenated(text: str) -> Any:
    decoder = json.JSONDecoder()
    at = 0
    while at < len(text):
        item, at = decoder.raw_decode(text, at)
        yield item


class Webhook(_HttpReceiver):
    """Takes a signed `{"events":[…]}` batch; an unsigned or badly signed one gets 401."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.refused = 0
        super().__init__()

    def url(self) -> str:
        return f"webhook+http://127.0.0.1:{self.port}/ingest"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.gate.wait()
                hook.requests += 1
                ok = verify(
                    hook.secret,
                    self.headers.get(TIMESTAMP_HEADER),
                    self.headers.get(SIGNATURE_HEADER),
                    body,
                )
                if ok:  # taken before the answer: the sender's next batch may not overtake it
                    hook.took(json.loads(body)["events"])
                else:
                    hook.refused += 1
                self.send_response(204 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, PEM files in `directory`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "syslog.pem", directory / "syslog.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class SyslogTls(_Receiver):
    """RFC 5425: TLS, each message framed `LENGTH SP MSG`; `received` holds the messages
    (bytes). A frame that is not octet-counted fails the receiver (`errors`)."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.cert, key = self_signed(directory)
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(self.cert, key)
        self.errors: list[str] = []
        self.listener: socket.socket | None = None
        self.connections: list[socket.socket] = []
        self.up()

    def url(self) -> str:
        return f"syslog+tls://127.0.0.1:{self.port}?ca={self.cert}"

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        if self.listener is not None:
            with contextlib.suppress(OSError):  # wakes the blocked accept()
                self.listener.shutdown(socket.SHUT_RDWR)
            self.listener.close()
            self.listener = None
        for conn in self.connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        self.connections = []

    close = down

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            conn = self.context.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError) as error:
            self.errors.append(f"handshake: {error}")
            raw.close()
            return
        self.connections.append(conn)
        buffer = b""
        try:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffer += chunk
                messages = []
                while b" " in buffer:
                    length, _, rest = buffer.partition(b" ")
                    if not length.isdigit():
                        self.errors.append(f"not octet-counted: {buffer[:20]!r}")
                        return
                    if len(rest) < int(length):
                        break
                    messages.append(rest[: int(length)])
                    buffer = rest[int(length) :]
                self.gate.wait()
                self.took(messages)
        except (OSError, ssl.SSLError):
            return
        finally:
            conn.close()


def runner_for(sink: Sink, redis: Any, key_prefix: str, **options: Any) -> SinkRunner:
    """The sink's deliverer over the test's own keys (lag alert at 15 min unless given)."""
    return SinkRunner(
        sink,
        AuditLog(redis, prefix=key_prefix),
        Positions(redis, prefix=key_prefix),
        lag_alert=options.pop("lag_alert", 900),
        **options,
    )
