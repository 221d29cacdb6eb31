"""The job registry: each kind has one handler, and a second registration of a kind is refused
at start-up rather than silently replacing the first."""

from __future__ import annotations

import pytest

from app.jobs.registry import Registry


def test_a_kind_runs_the_handler_registered_for_it() -> None:
    ran: list[dict[str, object]] = []
    registry = Registry()
    registry.register("approve", ran.append)
    registry["approve"]({"n": 1})
    assert ran == [{"n": 1}]
    assert "approve" in registry and "deny" not in registry


def test_a_kind_registered_twice_is_refused() -> None:
    registry = Registry()
    registry.register("approve", lambda body: None)
    with pytest.raises(ValueError, match="approve"):
        registry.register("approve", lambda body: None)


def test_the_consumer_is_given_a_view_it_cannot_change() -> None:
    registry = Registry()
    registry.register("approve", lambda body: None)
    with pytest.raises(TypeError):
        registry.handlers()["deny"] = lambda body: None  # type: ignore[index]
