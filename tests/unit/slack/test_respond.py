"""Answers through `response_url` (app/slack/respond.py), against the Slack fake over real
loopback connections: kept-alive connections, the proxy the environment names, and failures
logged without the URL (a `response_url` is a credential for that conversation)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.foundations import http_pools
from app.slack.respond import Responder
from tests.support.processes import free_port
from tests.support.slack_fake import SlackFake


class _Proxy(BaseHTTPRequestHandler):
    """An HTTP proxy that answers every request itself, noting the target it was asked for."""

    seen: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Proxy.seen = []
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.server_address[1]}")
    http_pools._proxies.cache_clear()
    yield _Proxy.seen
    server.shutdown()
    server.server_close()
    http_pools._proxies.cache_clear()


def test_many_answers_go_over_one_kept_alive_connection(slack: SlackFake) -> None:
    responder = Responder()
    answer = responder.to(slack.response_url)
    assert answer is not None
    for n in range(30):
        answer(text=f"answer {n}", response_type="ephemeral")
    assert [r["text"] for r in slack.responses] == [f"answer {n}" for n in range(30)]
    assert len(set(slack.response_peers)) == 1


def test_an_answer_goes_through_the_proxy_the_environment_names(
    slack: SlackFake, proxy: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    Responder().post(slack.response_url, {"text": "via the proxy"})
    assert proxy == [slack.response_url] and slack.responses == []

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    http_pools._proxies.cache_clear()
    Responder().post(slack.response_url, {"text": "direct"})
    assert [r["text"] for r in slack.responses] == ["direct"] and len(proxy) == 1


def test_a_refused_or_undelivered_answer_is_logged_without_its_url(
    slack: SlackFake, caplog: pytest.LogCaptureFixture
) -> None:
    responder = Responder(connect_retries=0)
    nowhere = f"http://127.0.0.1:{free_port()}/response/secret-hook-1"
    with caplog.at_level(logging.WARNING, logger="app.slack.respond"):
        responder.post(nowhere, {"text": "lost"})
        responder.post(slack.response_url, {"text": "x" * 50_000})  # over Slack's limit
    failed, refused = caplog.records
    assert failed.event == "slack.respond_failed"  # type: ignore[attr-defined]
    assert refused.event == "slack.respond_refused" and refused.status == 400  # type: ignore[attr-defined]
    assert "secret-hook" not in caplog.text and "/response/" not in caplog.text
    slack.refused.clear()  # the refusal was the point
