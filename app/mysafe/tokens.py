"""MySafe access tokens: fetched with a person's own key, cached encrypted in Redis.

A token is kept until shortly before `expires_in` runs out (the margin covers clock skew and
the time a call takes), shared by every worker process, and dropped on a 401 so the next call
fetches a fresh one. The cache never holds a token in clear text.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import NamedTuple

from redis.exceptions import LockError

from app.foundations.crypto import Keyring
from app.foundations.errors import ConfigError
from app.foundations.scripts import lua
from app.foundations.storage import RedisClient, compare_and_delete, compare_and_set

#: Refetch this many seconds before MySafe says the token expires (or a tenth of its life).
EXPIRY_MARGIN = 60


@dataclass(frozen=True)
class Credentials:
    """One person's MySafe access key. `repr` hides the secret."""

    client_id: str
    client_secret: str

    def __repr__(self) -> str:
        return f"Credentials(client_id={self.client_id!r}, client_secret='***')"


@dataclass(frozen=True)
class Token:
    access_token: str
    expires_in: int

    def __repr__(self) -> str:
        return f"Token(expires_in={self.expires_in})"


class CachedToken(NamedTuple):
    """A token and the exact ciphertext it was read from: what a compare-and-delete names."""

    access_token: str
    stored: str

    def __repr__(self) -> str:  # never the token, in a log line or a traceback
        return "CachedToken(access_token='***', stored='***')"


def vault_key(prefix: str, *parts: str) -> str:
    """Keys of people's keys and tokens share the `{vault}` hash tag: one slot, so linking,
    unlinking and caching a token can be one atomic step even on a cluster."""
    return ":".join((prefix, "{vault}", *parts))


#: How long one process may hold a person's fetch before another may try (seconds).
FETCH_LOCK_TTL = 30


class TokenCache:
    """Encrypted tokens in Redis, one per Slack user, with a TTL a little under their life.

    A token fetch is single-flight per person: one thread per process (a `threading.Lock`)
    and one process at a time (a short Redis lock), each re-reading the cache once it holds
    the lock. Against a MySafe that keeps one live token per key, twenty threads fetching
    their own after a 401 would revoke each other's tokens in turn."""

    def __init__(self, redis: RedisClient, keyring: Keyring, *, prefix: str) -> None:
        self.redis = redis
        self.keyring = keyring
        self.prefix = prefix
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._put_if_linked = redis.register_script(lua("app.mysafe", "token_put_if_linked"))

    def key(self, user_id: str) -> str:
        return vault_key(self.prefix, "token", user_id)

    def get(self, user_id: str) -> CachedToken | None:
        """The cached token; one that no configured key decrypts (a key was retired) is a
        miss, so the next call simply fetches a new one."""
        stored = self.redis.get(self.key(user_id))
        if not stored:
            return None
        try:
            return CachedToken(self.keyring.decrypt(stored), stored)
        except ConfigError:
            return None

    def put(self, user_id: str, token: Token, *, client_id: str) -> CachedToken | None:
        """Cache the token if `user_id` is still linked with `client_id`; None when not kept."""
        lifetime = max(1, min(token.expires_in - EXPIRY_MARGIN, int(token.expires_in * 0.9)))
        stored = self.keyring.encrypt(token.access_token).decode("ascii")
        kept = self._put_if_linked(
            keys=[vault_key(self.prefix, "account", user_id), self.key(user_id)],
            args=[client_id, stored, lifetime],
        )
        return CachedToken(token.access_token, stored) if kept else None

    def drop(self, user_id: str, *, stored: str | None = None) -> None:
        """Forget the person's token; with `stored`, only if it is still that very one."""
        if stored is None:
            self.redis.delete(self.key(user_id))
        else:
            compare_and_delete(self.redis, self.key(user_id), stored)  # not another's token

    @contextmanager
    def single_flight(self, user_id: str) -> Iterator[None]:
        """Hold the right to fetch this person's token: in this process, then across processes.

        The Redis lock is best-effort: if it cannot be had within the lock's life (a holder
        died), the fetch goes ahead rather than failing the person's command."""
        with self._thread_lock(user_id):
            lock = self.redis.lock(
                vault_key(self.prefix, "token-fetch", user_id),
                timeout=FETCH_LOCK_TTL,
                sleep=0.01,
                blocking_timeout=FETCH_LOCK_TTL,
                thread_local=False,
            )
            acquired = lock.acquire()
            try:
                yield
            finally:
                if acquired:
                    with suppress(LockError):
                        lock.release()

    def _thread_lock(self, user_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(user_id, threading.Lock())

    def rotate(self, user_ids: Iterable[str]) -> int:
        """Re-encrypt each cached token with the newest key; ones no key opens are dropped."""
        count = 0
        for user_id in user_ids:
            stored = self.redis.get(self.key(user_id))
            if not stored:
                continue
            try:
                fresh = self.keyring.rotate(stored).decode("ascii")
            except ConfigError:
                self.drop(user_id, stored=stored)
                continue
            count += compare_and_set(self.redis, self.key(user_id), None, stored, fresh)
        return count
