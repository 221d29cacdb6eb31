"""Time is aware UTC, from one place, so tests and stored timestamps agree.

Tests that must see time pass (a share that ends in an hour) move this process's clock with
`shifted` instead of waiting: everything that reads `utcnow`/`timestamp` moves with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

_offset = timedelta()


def utcnow() -> datetime:
    return datetime.now(UTC) + _offset


def timestamp() -> float:
    """Seconds since the epoch, as stored in Redis (scores, expiry times)."""
    return utcnow().timestamp()


@contextmanager
def shifted(seconds: float) -> Iterator[None]:
    """This process's clock `seconds` ahead while inside (for tests; never in the service)."""
    global _offset
    before = _offset
    _offset = before + timedelta(seconds=seconds)
    try:
        yield
    finally:
        _offset = before
