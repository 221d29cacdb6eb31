"""werkzeug's development server, keeping each connection open between requests, as MySafe's
and Slack's own servers do.

werkzeug closes every connection after its answer (`Connection: close`): after the app it
reads and discards whatever the connection still holds, which on a kept connection would be
the next request. Its clients then open a connection per call, a TCP handshake and a new
server thread per request that neither MySafe nor Slack makes a client pay, and that the
share burst measured as the bot's work. Here the app reads its request's body from a stream
bounded by the request's `Content-Length` (werkzeug's own `LimitedStream`), what it left of
that body is read after the answer, and werkzeug's discard finds nothing, so the next request
on the connection arrives whole. A body sent in chunks (no length to bound it by) closes its
connection after the answer, as werkzeug always does.

`LoopbackServer` serves an app so from a daemon thread; `stop` also closes the connections
still kept, so their threads end with the server.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

from werkzeug.exceptions import ClientDisconnected
from werkzeug.serving import DechunkedInput, ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wsgi import LimitedStream, get_content_length

#: Seconds `serve_forever` waits between looks at a stop: short, so `stop` is quick in tests.
POLL = 0.05


class _LinesOnly:
    """The connection's reader as werkzeug sees it: the request line and headers as they come,
    and nothing to `read`, which is how werkzeug discards what follows an answer. The app
    reads its body from its own bounded stream."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def read(self, size: int = -1) -> bytes:
        return b""

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


class KeepAliveHandler(WSGIRequestHandler):
    server: _Server
    _body: LimitedStream | None = None

    def setup(self) -> None:
        super().setup()
        # werkzeug writes the headers and the body apart: on a kept connection Nagle's
        # algorithm would hold the body until the client's delayed ACK (tens of ms).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.keep(self.connection)
        self.rfile = _LinesOnly(self.rfile)  # type: ignore[assignment]

    def finish(self) -> None:
        self.server.forget(self.connection)
        super().finish()

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        raw = self.rfile.raw  # type: ignore[attr-defined]
        if environ.get("wsgi.input_terminated"):  # chunked: read to its end, then closed
            environ["wsgi.input"] = DechunkedInput(raw)
            self.close_connection = True
            self._body = None
        else:
            self._body = LimitedStream(raw, get_content_length(environ) or 0)
            environ["wsgi.input"] = self._body
        return environ

    def run_wsgi(self) -> None:
        super().run_wsgi()
        body, self._body = self._body, None
        if body is None or self.close_connection:
            return
        try:
            body.exhaust()  # what the app did not read of its body, never the next request
        except (ClientDisconnected, OSError):
            self.close_connection = True

    def send_header(self, keyword: str, value: str) -> None:
        """werkzeug says `Connection: close` on every answer; it is said here only of a
        connection that does close (the client asked, or the body came in chunks)."""
        closing = keyword.lower() == "connection" and value.lower() == "close"
        if closing and not self.close_connection:
            return
        super().send_header(keyword, value)


class _Server(ThreadedWSGIServer):
    """werkzeug's threaded server, knowing the connections its handlers keep open, and the
    threads serving them."""

    def __init__(self, host: str, port: int, app: Any) -> None:
        super().__init__(host, port, app, handler=KeepAliveHandler)
        self._kept: dict[socket.socket, threading.Thread] = {}
        self._kept_lock = threading.Lock()

    def keep(self, connection: socket.socket) -> None:
        with self._kept_lock:
            self._kept[connection] = threading.current_thread()

    def forget(self, connection: socket.socket) -> None:
        with self._kept_lock:
            self._kept.pop(connection, None)

    def close_kept(self, *, wait: float) -> None:
        """Ends every kept connection (a handler waiting for its next request reads its end)
        and waits up to `wait` seconds for their threads: one still answering (a request a
        test holds) is left to end on its own."""
        with self._kept_lock:
            kept = dict(self._kept)
        for connection in kept:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + wait
        for thread in kept.values():
            thread.join(timeout=max(0.0, deadline - time.monotonic()))


class LoopbackServer:
    """A WSGI app served from a daemon thread, its connections kept open between requests."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, *, name: str) -> None:
        self.app = app
        self.host, self._port = host, port
        self.name = name
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{self.name} is not started")
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        """The base URL without a trailing slash; the port is only known once started."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> LoopbackServer:
        self._server = _Server(self.host, self._port, self.app)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(POLL,), name=self.name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.close_kept(wait=2.0)
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None
