"""MySafe access tokens: fetched with a person's own key, cached encrypted in Redis.

A token is kept until shortly before `expires_in` runs out (the margin covers clock skew and
the time a call takes), shared by every worker process, and dropped on a 401 so the next call
fetches a fresh one. The cache never holds a token in clear text.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from app.crypto import Keyring
from app.storage import Client

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


class TokenCache:
    """Encrypted tokens in Redis, one per Slack user, with a TTL a little under their life."""

    def __init__(self, redis: Client, keyring: Keyring, *, prefix: str) -> None:
        self.redis = redis
        self.keyring = keyring
        self.prefix = prefix
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def key(self, user_id: str) -> str:
        return f"{self.prefix}:token:{user_id}"

    def get(self, user_id: str) -> str | None:
        stored = self.redis.get(self.key(user_id))
        return self.keyring.decrypt(stored) if stored else None

    def put(self, user_id: str, token: Token) -> None:
        lifetime = max(1, min(token.expires_in - EXPIRY_MARGIN, int(token.expires_in * 0.9)))
        self.redis.set(self.key(user_id), self.keyring.encrypt(token.access_token), ex=lifetime)

    def drop(self, user_id: str) -> None:
        self.redis.delete(self.key(user_id))

    def lock(self, user_id: str) -> threading.Lock:
        """Serialise fetches for one person inside a process: many calls, one token fetch."""
        with self._locks_guard:
            return self._locks.setdefault(user_id, threading.Lock())
