"""The ports tests hand their servers: with several test processes, a port the kernel picked
was taken by another test's server before the bot bound it, and a test read that server's 404
as the bot's `/readyz`. Ports now come from below the kernel's ephemeral range, a block per
test process."""

from __future__ import annotations

import socket

import pytest

from tests.support import processes


def test_a_port_comes_from_below_the_range_the_kernel_hands_out_and_is_free() -> None:
    port = processes.free_port()
    assert 1024 <= port < processes._ephemeral_low()
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))  # raises if anything holds it


def test_two_test_processes_never_get_the_same_port(monkeypatch: pytest.MonkeyPatch) -> None:
    def ports_of(worker: str) -> set[int]:
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        return {processes.free_port() for _ in range(processes.PORTS_EACH)}

    first, second = ports_of("gw0"), ports_of("gw1")
    assert first and second and not first & second


def test_a_port_in_use_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(processes, "PORTS_EACH", 2)
    with socket.socket() as held:
        held.bind(("127.0.0.1", processes.free_port()))
        held.listen()
        taken = held.getsockname()[1]
        seen = {processes.free_port() for _ in range(4)}  # a block of two: the other one
    assert len(seen) == 1 and taken not in seen
