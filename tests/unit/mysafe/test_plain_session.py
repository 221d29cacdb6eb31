"""`PlainSession` (app/mysafe/plain_session.py) prepares a request exactly as `requests` does,
and what it sends reaches the server as `requests` would send it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any

import pytest
import requests

from app.mysafe.plain_session import PlainSession
from app.mysafe.transport import make_session

URL = "https://mysafe.example.com/api/mysafe/password/7"

REQUESTS = [
    requests.Request("GET", URL),
    requests.Request("POST", URL, json={"name": "GCP console", "é": [1, 2]}),
    requests.Request("POST", URL, data=b"token=x&channel=C1", headers={"Content-Type": "form"}),
    requests.Request("POST", URL, data={"a": "1", "b": ["2", "3"]}),
    requests.Request("PUT", URL, headers={"Accept": "text/plain", "User-Agent": None}),
    requests.Request("GET", "https://ops:s3cret@mysafe.example.com/api/x?q=1#frag"),
    requests.Request("GET", URL, params={"page": 2}),
    requests.Request("GET", URL, params={"name": "GCP console & co", "skip": None}),
    requests.Request("GET", URL + "?q=1", params=[("a", "1"), ("a", "é")]),
    requests.Request("GET", URL, params="page=2&x"),
    requests.Request("GET", URL, cookies={"b": "1"}),  # left to requests
    requests.Request("GET", URL, auth=("u", "p")),  # left to requests
]


def stock_twin(session: requests.Session) -> requests.Session:
    twin = requests.Session()
    twin.headers = session.headers.copy()
    twin.trust_env = session.trust_env
    return twin


def same(a: requests.PreparedRequest, b: requests.PreparedRequest) -> None:
    assert (a.method, a.url, dict(a.headers), a.hooks) == (b.method, b.url, dict(b.headers), b.hooks)
    assert a.body == b.body


@pytest.mark.parametrize("request_", REQUESTS, ids=range(len(REQUESTS)))
def test_a_request_is_prepared_as_requests_prepares_it(request_: requests.Request) -> None:
    session = make_session()
    same(session.prepare_request(request_), stock_twin(session).prepare_request(request_))


def test_a_netrc_entry_for_the_host_is_honoured(tmp_path, monkeypatch) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine mysafe.example.com login ops password from-netrc\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    session = make_session()
    prepared = session.prepare_request(requests.Request("GET", URL))
    assert prepared.headers["Authorization"].startswith("Basic ")
    other = session.prepare_request(requests.Request("GET", "https://elsewhere.example.com/"))
    assert "Authorization" not in other.headers


class Echo(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        answer = json.dumps({"headers": dict(self.headers), "body": body.decode()}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_GET(self) -> None:
        """A redirect that sets a cookie, then the cookie as the next request carried it."""
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/here")
            self.send_header("Set-Cookie", "seen=1; Path=/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        answer = (self.headers.get("Cookie") or "no cookie").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def echo() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/api/chat.postMessage"
    server.shutdown()
    server.server_close()


def test_what_is_sent_reaches_the_server_as_requests_sends_it(echo: str) -> None:
    def sent(session: requests.Session) -> dict[str, Any]:
        answer = session.post(echo, json={"text": "olá"}, headers={"Authorization": "Bearer x"})
        return dict(answer.json())

    ours, stock = sent(PlainSession()), sent(requests.Session())
    assert ours == stock and json.loads(ours["body"]) == {"text": "olá"}


def test_a_plain_request_skips_requests_merging(monkeypatch) -> None:
    """What this session is for: `merge_setting` (a Protocol check per value on Python 3.11)
    is not run for the bot's own calls."""

    def merged(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("merged")

    session = make_session()
    session.merge_environment_settings(URL, {}, None, None, None)  # read once per host
    monkeypatch.setattr("requests.sessions.merge_setting", merged)
    session.prepare_request(requests.Request("POST", URL, json={"a": 1}))
    session.prepare_request(requests.Request("GET", URL, params={"name": "GCP console"}))
    session.merge_environment_settings(URL, {}, None, None, None)
    with pytest.raises(AssertionError):
        session.prepare_request(requests.Request("GET", URL, cookies={"b": "1"}))


def test_a_request_without_parameters_encodes_none(monkeypatch) -> None:
    """No Protocol check (`to_key_val_list`) for a query or a body the bot never has."""

    def listed(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("listed")

    session = make_session()
    monkeypatch.setattr("requests.models.to_key_val_list", listed)
    session.prepare_request(requests.Request("GET", URL))
    session.prepare_request(requests.Request("GET", URL, params={"skip": None}))
    session.prepare_request(requests.Request("POST", URL, json={"a": 1}))
    session.prepare_request(requests.Request("POST", URL, data=b"token=x"))
    with pytest.raises(AssertionError):
        session.prepare_request(requests.Request("GET", URL, params={"page": 2}))


def proxied() -> requests.Session:
    session = make_session()
    session.proxies = {"https": "http://proxy.example.com:3128"}
    session.verify = "/etc/ssl/certs/ca-certificates.crt"
    session.cert = ("client.pem", "client.key")
    session.stream = True
    return session


CALLS = [
    ({}, None, None, None),
    ({"https": "http://other.example.com:8080"}, None, None, None),
    ({}, True, None, None),
    ({}, None, False, None),
    ({}, None, None, "other.pem"),
]


@pytest.mark.parametrize("made", [make_session, proxied], ids=["mysafe", "proxied"])
@pytest.mark.parametrize("call", CALLS, ids=range(len(CALLS)))
def test_the_environment_settings_are_requests_own(made: Any, call: tuple[Any, ...]) -> None:
    session = made()
    ours = session.merge_environment_settings(URL, *call)
    stock = requests.Session.merge_environment_settings(session, URL, *call)
    assert {**ours, "proxies": dict(ours["proxies"])} == {**stock, "proxies": dict(stock["proxies"])}


def test_a_redirect_carries_its_cookie_as_with_requests(echo: str) -> None:
    moved = echo.replace("/api/chat.postMessage", "/moved")
    ours, stock = PlainSession().get(moved), requests.Session().get(moved)
    assert ours.text == stock.text == "seen=1"
