"""The loopback servers (the MySafe emulator, the Slack fake) keep a connection open between
requests, as MySafe's and Slack's servers do, without ever reading one request's leftover body
as the next request; and `stop` ends the connections they keep."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator

import pytest
from flask import Flask, request

from app.sandbox.emulator import Emulator, EmulatorServer
from app.sandbox.keep_alive import LoopbackServer


def _app() -> Flask:
    """Answers with the caller's port and what it read of the body: `read` bytes of it
    (all by default, none with `read=0`)."""
    app = Flask("keep-alive-test")

    @app.route("/echo", methods=["GET", "POST", "PUT"])
    def echo():
        wanted = request.args.get("read")
        if wanted is None:
            body = request.get_data()
        else:
            body = request.stream.read(int(wanted)) if int(wanted) else b""
        return {"peer": int(request.environ["REMOTE_PORT"]), "body": body.decode()}

    return app


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    served = LoopbackServer(_app(), name="keep-alive-test").start()
    yield served
    served.stop()


def _ask(
    connection: http.client.HTTPConnection, path: str, body: str | None = None, **headers: str
) -> tuple[http.client.HTTPResponse, dict]:
    connection.request("POST" if body is not None else "GET", path, body=body, headers=headers)
    answer = connection.getresponse()
    return answer, json.loads(answer.read())


def _connection(server: LoopbackServer) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)


def test_many_requests_travel_over_one_connection(server: LoopbackServer) -> None:
    connection = _connection(server)
    peers = set()
    for _ in range(20):
        answer, said = _ask(connection, "/echo")
        assert answer.status == 200 and answer.getheader("Connection") is None
        peers.add(said["peer"])
    assert len(peers) == 1
    assert peers == {connection.sock.getsockname()[1]}


@pytest.mark.parametrize("read", ["0", "7"])
def test_a_body_the_app_left_unread_is_not_taken_for_the_next_request(
    server: LoopbackServer, read: str
) -> None:
    """A route that answers before reading its body (a refusal), or reads part of it: the
    rest is read off the connection, and the next request is answered as sent."""
    connection = _connection(server)
    left = "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n" + "x" * 5000  # would read as a request
    answer, said = _ask(connection, f"/echo?read={read}", left)
    assert said["body"] == left[: int(read)]
    answer, again = _ask(connection, "/echo", "the next one")
    assert answer.status == 200 and again == {"peer": said["peer"], "body": "the next one"}


def test_a_chunked_body_is_read_whole_and_its_connection_closed(server: LoopbackServer) -> None:
    connection = _connection(server)
    connection.request("POST", "/echo", body=iter([b"first ", b"second"]), encode_chunked=True)
    answer = connection.getresponse()
    assert json.loads(answer.read())["body"] == "first second"
    assert answer.getheader("Connection") == "close"
    assert connection.sock is None  # http.client closed it, as the answer said


def test_a_client_that_asks_to_close_is_answered_so(server: LoopbackServer) -> None:
    connection = _connection(server)
    answer, _said = _ask(connection, "/echo", Connection="close")
    assert answer.getheader("Connection") == "close"
    assert connection.sock is None


def test_stop_ends_the_connections_it_keeps() -> None:
    before = threading.active_count()
    served = LoopbackServer(_app(), name="keep-alive-test").start()
    clients = [_connection(served) for _ in range(3)]
    for client in clients:
        assert _ask(client, "/echo")[0].status == 200
    served.stop()
    for client in clients:
        assert client.sock.recv(1) == b""  # the server closed its end
        client.close()
    assert threading.active_count() == before


def test_the_emulator_keeps_a_connection_open_as_mysafe_does() -> None:
    emulator = Emulator()
    with EmulatorServer(emulator) as served:
        connection = http.client.HTTPConnection(served.url.removeprefix("http://"), timeout=5)
        ports = set()
        for _ in range(5):
            connection.request("GET", "/api/mysafe/password/1")  # refused: no token
            answer = connection.getresponse()
            answer.read()
            assert answer.status == 401
            ports.add(connection.sock.getsockname()[1])
        assert len(ports) == 1
