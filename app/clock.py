"""Time is aware UTC, from one place, so tests and stored timestamps agree."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def timestamp() -> float:
    """Seconds since the epoch, as stored in Redis (scores, expiry times)."""
    return utcnow().timestamp()
