"""Per-person MCP tokens: issued in Slack, shown once, stored only as a SHA-256 hash, and
ending by themselves after `MYSAFE_BOT_MCP_TOKEN_TTL` (both keys carry that TTL).

    P:{mcp}:token:{sha256}   -> Slack user ID        (lookup on every MCP request)
    P:{mcp}:user:{U…}        -> sha256 of their token (so a new token or `revoke` ends the old)

One hash tag, so issuing (drop the old hash, store the new) is one MULTI even on a cluster. A
token is 256 random bits; hashing without a salt is enough for that, and lets a lookup be one GET.
"""

from __future__ import annotations

import hashlib
import secrets

from app.foundations.storage import RedisClient

PREFIX = "msb_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class McpTokens:
    def __init__(self, redis: RedisClient, *, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, "{mcp}", *parts))

    def issue(self, slack_id: str, *, ttl: int) -> str:
        """A new token for this person, valid `ttl` seconds; any earlier one stops at once."""
        token = PREFIX + secrets.token_urlsafe(32)
        digest = _digest(token)
        old = self.redis.get(self._key("user", slack_id))
        with self.redis.pipeline(transaction=True) as pipe:
            if old:
                pipe.delete(self._key("token", old))
            pipe.set(self._key("token", digest), slack_id, ex=ttl)
            pipe.set(self._key("user", slack_id), digest, ex=ttl)
            pipe.execute()
        return token

    def revoke(self, slack_id: str) -> bool:
        old = self.redis.get(self._key("user", slack_id))
        if not old:
            return False
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._key("token", old))
            pipe.delete(self._key("user", slack_id))
            pipe.execute()
        return True

    def user_for(self, token: str | None) -> str | None:
        """Whose token this is; the lookup is by hash, so no token is compared in Python."""
        if not token or not token.startswith(PREFIX) or len(token) > 200:
            return None
        return self.redis.get(self._key("token", _digest(token)))
