"""Each person's registered passkeys (WebAuthn credentials): public keys only, several each.

    P:{passkeys}:user:{U…}  hash: credential id (base64url) -> JSON of a `Passkey`

A passkey is a public key and a signature counter; nothing here is secret, and nothing lets
anyone sign: the private key never leaves the person's authenticator. Kept until removed (the
App Home lists them, with a Remove button). The counter is raised with one Lua step that
refuses to go back, so two assertions verified at once cannot both pass with one count.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from app.foundations.scripts import lua
from app.foundations.storage import RedisClient

#: A person keeps a handful of passkeys (a phone, a laptop, a security key), not hundreds.
MAX_PER_PERSON = 10


@dataclass(frozen=True)
class Passkey:
    #: base64url of the credential id, as browsers and WebAuthn's JSON name it.
    credential_id: str
    #: base64url of the COSE public key.
    public_key: str
    sign_count: int
    created: float
    #: What the person's browser called it when registered (the authenticator's AAGUID
    #: is not a name); shown in the App Home.
    label: str = "passkey"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> Passkey:
        return cls(**json.loads(raw))


class Passkeys:
    def __init__(self, redis: RedisClient, *, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._raise = redis.register_script(lua("app.accounts", "passkey_raise"))

    def _key(self, slack_id: str) -> str:
        return ":".join((self.prefix, "{passkeys}", "user", slack_id))

    def add(self, slack_id: str, passkey: Passkey) -> bool:
        """Keep a new passkey; False when the person already has `MAX_PER_PERSON` or the
        credential is registered already (a replayed registration)."""
        key = self._key(slack_id)
        if self.redis.hlen(key) >= MAX_PER_PERSON:
            return False
        return bool(self.redis.hsetnx(key, passkey.credential_id, passkey.to_json()))

    def of(self, slack_id: str) -> list[Passkey]:
        """The person's passkeys, oldest first."""
        found = [Passkey.from_json(raw) for raw in self.redis.hvals(self._key(slack_id))]
        return sorted(found, key=lambda p: p.created)

    def get(self, slack_id: str, credential_id: str) -> Passkey | None:
        raw = self.redis.hget(self._key(slack_id), credential_id)
        return Passkey.from_json(raw) if raw else None

    def remove(self, slack_id: str, credential_id: str) -> bool:
        return bool(self.redis.hdel(self._key(slack_id), credential_id))

    def raise_count(self, slack_id: str, credential_id: str, count: int) -> bool:
        """Record the counter an assertion carried; False when it does not go forward (a
        cloned authenticator, or a second use of one assertion racing the first)."""
        return bool(self._raise(keys=[self._key(slack_id)], args=[credential_id, count]))
