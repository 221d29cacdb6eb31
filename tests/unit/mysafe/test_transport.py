"""The MySafe transport (app/mysafe/transport.py) over real loopback connections: each call
the client makes reaches the server as `requests` sent it, the proxy the environment names
is used (and not for a host `NO_PROXY` lists), and connections are kept between calls."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from app.foundations import http_pools
from app.mysafe.transport import HEADERS, Transport, retry_policy


class Echo(BaseHTTPRequestHandler):
    """Answers every request with what reached it: the method, the target, the headers a
    server reads, the body; and the peer, to tell one connection from another."""

    protocol_version = "HTTP/1.1"  # kept connections, as MySafe's server keeps them
    disable_nagle_algorithm = True  # headers and body written apart: no wait for an ACK

    def _echo(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        heard = {name.lower(): value for name, value in self.headers.items()}
        answer = json.dumps(
            {
                "method": self.command,
                "target": self.path,
                "headers": {k: heard.get(k) for k in HEARD},
                "body": body,
                "peer": list(self.client_address),
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST = do_PUT = _echo  # noqa: N815 - http.server's naming

    def log_message(self, *args: Any) -> None:
        pass


HEARD = ("accept", "accept-encoding", "user-agent", "authorization", "content-type")


@pytest.fixture
def echo() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def stock() -> requests.Session:
    """What the client sent its calls through before: a `requests` session, MySafe's headers."""
    session = requests.Session()
    session.headers.update({"Accept": HEADERS["Accept"], "User-Agent": HEADERS["User-Agent"]})
    return session


CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/api/mysafe/password", {}),
    ("GET", "/api/mysafe/password", {"params": {"name": "GCP console & co / é", "tag": None}}),
    ("GET", "/api/mysafe/secretapi?x=1", {"params": {"identifier_code": "12 534"}}),
    ("GET", "/api/mysafe/password/7", {"headers": {"Authorization": "Bearer t0ken"}}),
    (
        "PUT",
        "/api/mysafe/password/update/7",
        {"json": {"users_allowed": [{"username": "bob", "can_edit": True}], "notes": "olá"}},
    ),
    ("POST", "/api/mysafe/password/inactive/7", {"headers": {"Authorization": "Bearer t"}}),
    (
        "POST",
        "/api/oauth2/token",
        {"data": {"grant_type": "client_credentials", "client_id": "id", "client_secret": "s&=é"}},
    ),
    ("POST", "/api/oauth2/token", {"data": {"grant_type": "client_credentials"}, "auth": ("id", "sé")}),
]


@pytest.mark.parametrize(("method", "path", "given"), CALLS, ids=range(len(CALLS)))
def test_a_call_reaches_the_server_as_requests_sent_it(
    echo: str, method: str, path: str, given: dict[str, Any]
) -> None:
    ours = Transport().request(method, echo + path, timeout=5, **given).json()
    theirs = stock().request(method, echo + path, timeout=5, **given).json()
    for heard in (ours, theirs):
        heard.pop("peer")
    assert ours == theirs


def test_calls_share_one_kept_connection(echo: str) -> None:
    transport = Transport()
    peers = {
        tuple(transport.request("GET", f"{echo}/api/mysafe/password/{n}", timeout=5).json()["peer"])
        for n in range(20)
    }
    assert len(peers) == 1
    transport.close()  # a process about to fork closes its connections: the next call opens one
    again = transport.request("GET", f"{echo}/api/mysafe/password/1", timeout=5).json()["peer"]
    assert tuple(again) not in peers


class Proxy(BaseHTTPRequestHandler):
    """An HTTP proxy that answers every request itself with the target it was asked for."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        answer = json.dumps({"proxied": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setenv("HTTP_PROXY", url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    http_pools._proxies.cache_clear()
    yield url
    http_pools._proxies.cache_clear()
    server.shutdown()
    server.server_close()


def test_the_environment_proxy_is_used_except_where_no_proxy_says(proxy: str, echo: str) -> None:
    transport = Transport(retry=retry_policy(tries=1))
    through = transport.request("GET", "http://mysafe.example/api/mysafe/password", timeout=5)
    assert through.json() == {"proxied": "http://mysafe.example/api/mysafe/password"}
    direct = transport.request("GET", f"{echo}/api/mysafe/password", timeout=5).json()
    assert direct["target"] == "/api/mysafe/password"  # NO_PROXY: straight to the host


def test_an_answer_reads_as_requests_read_it(echo: str) -> None:
    ours = Transport().request("GET", f"{echo}/x", timeout=5)
    theirs = stock().get(f"{echo}/x", timeout=5)
    assert (ours.status_code, ours.reason) == (theirs.status_code, theirs.reason)
    assert json.loads(ours.text)["target"] == json.loads(theirs.text)["target"] == "/x"
