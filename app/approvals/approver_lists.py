"""Who may decide on a request, kept once per list rather than once per request.

A rule's approvers are copied into each request it governs (`ChangeRequest.approvers`: the
rule may change, the request keeps who could decide when it was made). A long list (a rule
naming hundreds of people) made every stored request that much larger, so a list longer than
`INLINE` bytes is kept once, under its own digest, and the request's `approvers` field holds
`@<digest>` instead. A short list stays in the field as JSON, as every request stored before
this did. A field that is a reference already (a request's fields copied) is kept as it is.

    P:approvers:<digest>   string   the list as JSON (sorted Slack IDs), kept `lifetime` past
                                    the last request made with it (refreshed by each create)

A list is content-addressed, so what a digest names never changes: each process remembers
the lists it read (`MAX_REMEMBERED`). A reference whose list is gone (it cannot be, while a
request that names it is kept) reads as `NOBODY`: no one may decide, rather than whoever the
settings name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import TypeVar

from app.approvals.scripts import lua
from app.foundations.storage import RedisClient

log = logging.getLogger(__name__)
V = TypeVar("V")

#: Lists up to this many bytes of JSON (one or two Slack IDs) stay in the request; longer
#: ones are kept apart.
INLINE = 32
#: A stored field that names a list kept apart starts with this (JSON never does).
REFERENCE = "@"
#: What a reference to a lost list reads as: an ID no Slack user has, so nobody may decide.
NOBODY = "(approvers unknown)"
#: Lists a process remembers before it starts over (each is one rule's approvers).
MAX_REMEMBERED = 256
#: How much longer than needed a list is kept when it is written, so that each process
#: writes it again about once a day rather than at every create.
MARGIN = 86400


class ApproverLists:
    def __init__(self, redis: RedisClient, *, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._read: dict[str, str] = {}
        self._kept_until: dict[str, float] = {}
        self._keep = redis.register_script(lua("approvers_keep"))

    def key(self, digest: str) -> str:
        return f"{self.prefix}:approvers:{digest}"

    def stored(self, approvers: str, *, lifetime: int) -> str:
        """What a new request's `approvers` field holds for the JSON list `approvers`: the
        list itself when short, else a reference to it, kept at least `lifetime` seconds
        from now (`lua/approvers_keep.lua`: never shortened by a request that lives less)."""
        if len(approvers) <= INLINE or approvers.startswith(REFERENCE):
            return approvers
        digest = hashlib.sha256(approvers.encode()).hexdigest()[:32]
        now = time.time()
        if self._kept_until.get(digest, 0.0) < now + lifetime:
            ttl = lifetime + MARGIN
            self._keep(keys=[self.key(digest)], args=[approvers, ttl])
            _remember(self._kept_until, digest, now + ttl)
        return REFERENCE + digest

    def read(self, field: str | None) -> str:
        """The JSON list a stored `approvers` field means ("[]" for none)."""
        if not field or not field.startswith(REFERENCE):
            return field or "[]"
        digest = field[len(REFERENCE) :]
        found = self._read.get(digest)
        if found is None:
            found = self.redis.get(self.key(digest))
            if found is None:
                log.warning(
                    "a request's approver list is gone: nobody may decide on it",
                    extra={"event": "approvers.list_missing", "digest": digest},
                )
                return json.dumps([NOBODY])
            _remember(self._read, digest, str(found))
        return str(found)


def _remember(memory: dict[str, V], digest: str, value: V) -> None:
    """Keep `value` for `digest`, starting over past `MAX_REMEMBERED` (bounded memory)."""
    if len(memory) >= MAX_REMEMBERED:
        memory.clear()
    memory[digest] = value
