"""Signed checkpoints: the tree's size and root at a time, chained by the previous one's hash.

A checkpoint's signed body is its four fields in the log's canonical encoding (app.audit.log):
`{"previous":…,"root":…,"size":…,"time":…}`; its hash, which the next one names as `previous`,
is SHA-256 of that body ("" for the first). Redis keeps each with what an export needs to start
from it: the tree's frontier at its size and the stream id of its last record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from app.audit.log import LogKeys, canonical
from app.audit.merkle import Frontier
from app.foundations import signing
from app.foundations.storage import RedisClient


@dataclass(frozen=True)
class Checkpoint:
    size: int
    root: str
    time: str
    previous: str
    signature: str = ""

    def body(self) -> bytes:
        """The bytes signed and hashed."""
        return canonical(
            {"previous": self.previous, "root": self.root, "size": self.size, "time": self.time}
        )

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.body()).hexdigest()

    def signed(self, key: Ed25519PrivateKey) -> Checkpoint:
        return replace(self, signature=signing.sign(key, self.body()))

    def valid(self, public: Ed25519PublicKey) -> bool:
        return signing.verified(public, self.signature, self.body())

    def to_json(self) -> dict[str, object]:
        return {
            "size": self.size,
            "root": self.root,
            "time": self.time,
            "previous": self.previous,
            "signature": self.signature,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Checkpoint:
        """`ValueError` for anything but the five fields with their types."""
        if not isinstance(data, Mapping) or set(data) != {
            "size",
            "root",
            "time",
            "previous",
            "signature",
        }:
            raise ValueError("a checkpoint has exactly size, root, time, previous, signature")
        if not isinstance(data["size"], int) or isinstance(data["size"], bool):
            raise ValueError("a checkpoint's size is an integer")
        texts = [data[k] for k in ("root", "time", "previous", "signature")]
        if not all(isinstance(t, str) for t in texts):
            raise ValueError("a checkpoint's root, time, previous and signature are text")
        return cls(**data)


@dataclass(frozen=True)
class Stored:
    """A checkpoint as Redis keeps it: with the frontier at its size (an export starting there
    needs it) and the stream id of the last record it covers."""

    checkpoint: Checkpoint
    nodes: tuple[str, ...]
    last_id: str

    def frontier(self) -> Frontier:
        return Frontier(self.checkpoint.size, (bytes.fromhex(n) for n in self.nodes))

    def dumps(self) -> str:
        return json.dumps(
            {**self.checkpoint.to_json(), "nodes": list(self.nodes), "last_id": self.last_id}
        )

    @classmethod
    def loads(cls, text: str) -> Stored:
        data = json.loads(text)
        nodes, last_id = tuple(data.pop("nodes")), data.pop("last_id")
        return cls(Checkpoint.from_json(data), nodes, last_id)


def stored(
    redis: RedisClient, keys: LogKeys, *, low: int = 0, high: int | None = None
) -> Iterator[Stored]:
    """The checkpoints Redis keeps with sizes in [low, high], oldest first."""
    top = "+inf" if high is None else high
    for member in redis.zrangebyscore(keys.checkpoints, low, top):
        yield Stored.loads(member)


def latest(redis: RedisClient, keys: LogKeys) -> Stored | None:
    found = redis.zrevrange(keys.checkpoints, 0, 0)
    return Stored.loads(found[0]) if found else None
