"""Waiting for what the test cannot be told of: a state in Redis, the process table."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def eventually(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """`predicate()` once it is truthy, checked every 20 ms; fails saying `what` did not
    happen within `timeout` seconds. For conditions nothing signals (the Slack fake's
    `wait_for` wakes only on a Slack call, and would sit out its whole timeout)."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s"
        time.sleep(0.02)  # polled: nothing announces it
    return value
