"""Where a front's messages about a request are, and whether they show its latest version.

Kept on the request's own hash (`channel`/`ts`, `copies`, `shown`, `message:<name>`) and in the
repair index (`P:idx:repair`), so they live exactly as long as the request. Mixed into
`ApprovalStore`, whose keys and scripts it uses: the chat front's bookkeeping in a module of
its own, ready to move to the front behind a port.
"""

from __future__ import annotations

import json
from typing import Any

from redis.lock import Lock

from app.foundations.storage import RedisClient

#: The prefix of a request's fields that say where a front's message about it is.
_KEPT = "message:"


class FrontMessages:
    """The Slack message bookkeeping of `ApprovalStore` (its keys and scripts)."""

    redis: RedisClient
    _mark_shown: Any

    def request_keys(self, request_id: str) -> list[str]:
        raise NotImplementedError  # `ApprovalStore.request_keys`

    def index(self, name: str) -> str:
        raise NotImplementedError  # `ApprovalStore.index`

    def shown(self, request_id: str, version: int) -> None:
        """Record that the Slack message now shows `version` (never lowering what is
        recorded) and that it needs no repair. (Two calls: the repair index lives in another
        cluster slot, where a pipeline cannot carry the script.)"""
        self._mark_shown(keys=[self.request_keys(request_id)[0]], args=[version])
        self.repaired(request_id)

    def render_lock(self, request_id: str, *, wait: float) -> Lock:
        """One render of a request's message at a time, so updates reach Slack in order."""
        return self.redis.lock(
            f"{self.request_keys(request_id)[0]}:render",
            timeout=30,
            sleep=0.01,
            blocking_timeout=wait,
            thread_local=False,
        )

    def needs_repair(self, request_id: str, now: float) -> None:
        """Remember a message that could not be brought up to date (the worker retries it)."""
        self.redis.zadd(self.index("repair"), {request_id: now})

    def repaired(self, request_id: str) -> None:
        self.redis.zrem(self.index("repair"), request_id)

    def set_copies(self, request_id: str, copies: list[tuple[str, str]]) -> None:
        """Where the escalated copies of a request's message are (see SlackNotifier)."""
        key = self.request_keys(request_id)[0]
        if copies and self.redis.exists(key):
            self.redis.hset(key, "copies", json.dumps(copies))

    def set_message(self, request_id: str, *, channel: str, ts: str) -> None:
        key = self.request_keys(request_id)[0]
        if self.redis.exists(key):
            self.redis.hset(key, mapping={"channel": channel, "ts": ts})

    def keep_message(self, request_id: str, name: str, *, channel: str, ts: str) -> None:
        """Where a front's message about the request is (a DM it brings up to date once the
        request is decided), by a name of the front's choosing; kept on the request itself, so
        for as long as the request is."""
        key = self.request_keys(request_id)[0]
        if self.redis.exists(key):
            self.redis.hset(key, _KEPT + name, json.dumps([channel, ts]))

    def kept_messages(self, request_id: str) -> dict[str, tuple[str, str]]:
        """The messages `keep_message` kept about the request: name -> (channel, ts)."""
        fields = self.redis.hgetall(self.request_keys(request_id)[0])
        return {
            name.removeprefix(_KEPT): (str(where[0]), str(where[1]))
            for name, value in fields.items()
            if name.startswith(_KEPT) and len(where := json.loads(value)) == 2
        }
