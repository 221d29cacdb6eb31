"""One write at a time per MySafe entry: a lease in Redis that every apply holds.

MySafe's update replaces whole sharing lists and has no version check, so two applies on one
entry that overlap (read, read, write, write) silently undo each other: the second PUT carries a
list computed before the first landed. Every read → merge → write of an entry therefore runs
holding that entry's lock:

    P:lock:{entry:password:312}   string  the holder's random token, with a TTL (the lease)

The key is hash-tagged by entry, so a cluster keeps it on one slot. redis-py's `Lock` does the
taking (SET NX PX), the waiting and the compare-and-delete release. Its token is the fencing
check: `EntryLock.still_held()` runs just before the write, and a holder whose lease passed
(it stalled, Redis failed over) does not write. The window left between that check and MySafe
receiving the PUT is bounded by the caller, which caps the call's total time (retries and
Retry-After included) below the lease.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis
from redis.lock import Lock

from app.foundations.errors import EntryBusy
from app.foundations.storage import RedisClient
from app.mysafe.models import Kind

log = logging.getLogger(__name__)


def entry_tag(kind: Kind, identifier: int) -> str:
    """The hash tag of everything kept per entry (its lock, its access records): one slot."""
    return f"{{entry:{kind.value}:{identifier}}}"


@dataclass
class EntryLock:
    lock: Lock
    #: `time.monotonic()` after which the lock is no longer ours, whatever Redis says.
    deadline: float

    @property
    def token(self) -> bytes:
        """The lock's value while it is ours: scripts that must run only for the holder check it."""
        return bytes(self.lock.local.token or b"")

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def still_held(self) -> bool:
        """The fencing check: our token is still the lock's value and its lease has not run out."""
        if self.remaining() <= 0:
            return False
        try:
            return bool(self.lock.owned())
        except redis.RedisError:
            return False


class EntryLocks:
    def __init__(self, redis_client: RedisClient, *, prefix: str) -> None:
        self.redis = redis_client
        self.prefix = prefix

    def key(self, kind: Kind, identifier: int) -> str:
        return f"{self.prefix}:lock:{entry_tag(kind, identifier)}"

    @contextmanager
    def hold(self, kind: Kind, identifier: int, *, lease: float, wait: float) -> Iterator[EntryLock]:
        """Hold the entry for at most `lease` seconds, waiting at most `wait` to get it.

        Raises `EntryBusy` when it could not be had in time. Release is compare-and-delete,
        so a holder whose lease ran out never frees the next holder's lock."""
        lock = self.redis.lock(
            self.key(kind, identifier),
            timeout=max(lease, 0.01),
            sleep=0.01,
            blocking=True,
            blocking_timeout=max(wait, 0.0),
            thread_local=False,
        )
        if not lock.acquire():
            raise EntryBusy(f"{kind.label} {identifier} is being changed by another request")
        held = EntryLock(lock, time.monotonic() + lease)
        try:
            yield held
        finally:
            try:
                lock.release()
            except redis.exceptions.LockError:  # our lease ran out meanwhile: nothing to free
                log.warning(
                    "entry lock had expired",
                    extra={"event": "apply.lock_expired", "entry": f"{kind.value}:{identifier}"},
                )
