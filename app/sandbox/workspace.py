"""The demo workspace's state in Redis: what the console shows in place of Slack.

Messages per conversation (the approvals channel, each person's DM with the bot), ephemeral
messages (kept with the one person who may see them), each person's open modals and App Home,
trigger IDs and `response_url` hooks. It lives in the bot's Redis so that every gunicorn
worker sees the same workspace. Each change is one atomic step (a command, a transaction or a
script) and bumps a version the console polls. Every key carries the `{demo}` hash tag, so
the steps that touch several keys stay on one slot of a Redis Cluster.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from app.foundations.scripts import lua
from app.foundations.storage import RedisClient

#: How long a trigger ID opens a modal, and a response_url answers (Slack: 3 s and 30 min;
#: the demo is lenient with triggers because a person reads before clicking).
TRIGGER_SECONDS = 60
HOOK_SECONDS = 30 * 60
#: The newest messages kept per conversation: a demo, not an archive.
KEPT = 200
#: The languages a demo person may read Slack in (Slack's own tags), the first the default.
LANGUAGES = ("en-US", "pt-BR")


class Workspace:
    def __init__(self, redis: RedisClient, *, prefix: str) -> None:
        self.redis = redis
        self.prefix = f"{prefix}:{{demo}}"
        self._update = redis.register_script(lua("app.sandbox", "message_update"))
        self._replace_view = redis.register_script(lua("app.sandbox", "view_replace"))

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    @property
    def _version(self) -> str:
        return self._key("version")

    def version(self) -> int:
        return int(self.redis.get(self._version) or 0)

    # --- messages ------------------------------------------------------------------------

    def post(
        self,
        conversation: str,
        *,
        user: str,
        text: str,
        blocks: list[Any] | None,
        only: str | None = None,
    ) -> str:
        """Store a message; returns its `ts` (seconds, then a counter: unique and ordered)."""
        seq = int(self.redis.incr(self._key("seq")))
        ts = f"{int(time.time())}.{seq:06d}"
        message = {
            "ts": ts,
            "seq": seq,
            "user": user,
            "text": text,
            "blocks": blocks or [],
            "only": only,
        }
        key, order = self._key("messages", conversation), self._key("order", conversation)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, ts, json.dumps(message))
            pipe.zadd(order, {ts: seq})
            pipe.incr(self._version)
            pipe.execute()
        self._trim(conversation)
        return ts

    def _trim(self, conversation: str) -> None:
        order = self._key("order", conversation)
        old = self.redis.zrange(order, 0, -KEPT - 1)
        if old:
            with self.redis.pipeline(transaction=True) as pipe:
                pipe.zrem(order, *old)
                pipe.hdel(self._key("messages", conversation), *old)
                pipe.execute()

    def update(self, conversation: str, ts: str, **changes: Any) -> bool:
        """Change a message in place (`chat.update`); False when there is no such message."""
        return bool(
            self._update(
                keys=[self._key("messages", conversation), self._version],
                args=[ts, json.dumps(changes)],
            )
        )

    def delete(self, conversation: str, ts: str) -> bool:
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self._key("messages", conversation), ts)
            pipe.zrem(self._key("order", conversation), ts)
            pipe.incr(self._version)
            removed = pipe.execute()[0]
        return bool(removed)

    def message(self, conversation: str, ts: str) -> dict[str, Any] | None:
        raw = self.redis.hget(self._key("messages", conversation), ts)
        return json.loads(raw) if raw else None

    def messages(self, conversation: str, *, viewer: str) -> list[dict[str, Any]]:
        """What `viewer` sees in a conversation, oldest first (others' ephemerals left out)."""
        stored = self.redis.hgetall(self._key("messages", conversation))
        found = [json.loads(raw) for raw in stored.values()]
        return sorted((m for m in found if m.get("only") in (None, viewer)), key=lambda m: m["seq"])

    # --- modals and the App Home -----------------------------------------------------------

    def trigger(self, user: str) -> str:
        """A trigger ID for a person's command or click: what lets the bot open a modal."""
        trigger_id = f"{int(time.time())}.{secrets.token_hex(8)}"
        self.redis.set(self._key("trigger", trigger_id), user, ex=TRIGGER_SECONDS)
        return trigger_id

    def trigger_user(self, trigger_id: str) -> str | None:
        user: str | None = self.redis.get(self._key("trigger", trigger_id))
        return user

    def open_view(self, user: str, view: dict[str, Any], *, push: bool = False) -> str:
        """Open a modal (`views.open`), or stack one on the open ones (`views.push`)."""
        view_id = "V" + secrets.token_hex(5).upper()
        stack = self._key("modals", user)
        with self.redis.pipeline(transaction=True) as pipe:
            if not push:
                pipe.delete(stack)
            pipe.hset(self._key("views"), view_id, json.dumps({**view, "id": view_id}))
            pipe.rpush(stack, view_id)
            pipe.incr(self._version)
            pipe.execute()
        return view_id

    def replace_view(self, view_id: str, view: dict[str, Any]) -> bool:
        """`views.update`: the same modal with new content; False when it is gone."""
        return bool(
            self._replace_view(
                keys=[self._key("views"), self._version],
                args=[view_id, json.dumps({**view, "id": view_id})],
            )
        )

    def view(self, view_id: str) -> dict[str, Any] | None:
        raw = self.redis.hget(self._key("views"), view_id)
        return json.loads(raw) if raw else None

    def top_view(self, user: str) -> dict[str, Any] | None:
        view_id = self.redis.lindex(self._key("modals", user), -1)
        return self.view(view_id) if view_id else None

    def close_view(self, user: str, *, every: bool = False) -> None:
        """The top modal closes (or all of them, `response_action: clear`)."""
        stack = self._key("modals", user)
        with self.redis.pipeline(transaction=True) as pipe:
            if every:
                pipe.delete(stack)
            else:
                pipe.rpop(stack)
            pipe.incr(self._version)
            pipe.execute()

    def publish_home(self, user: str, view: dict[str, Any]) -> str:
        view_id = "VHOME" + user
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key("home", user), json.dumps({**view, "id": view_id}))
            pipe.incr(self._version)
            pipe.execute()
        return view_id

    def home(self, user: str) -> dict[str, Any] | None:
        raw = self.redis.get(self._key("home", user))
        return json.loads(raw) if raw else None

    # --- languages ---------------------------------------------------------------------------

    def locale(self, user: str) -> str:
        """The language `user` reads Slack in, as `users.info` says it (`include_locale`)."""
        return str(self.redis.hget(self._key("locale"), user) or LANGUAGES[0])

    def set_locale(self, user: str, locale: str) -> None:
        """Switch `user`'s Slack language (one of `LANGUAGES`; anything else is refused)."""
        if locale not in LANGUAGES:
            raise ValueError(f"not a demo language: {locale}")
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key("locale"), user, locale)
            pipe.incr(self._version)
            pipe.execute()

    # --- response_url ----------------------------------------------------------------------

    def hook(self, *, conversation: str, user: str, ts: str = "") -> str:
        """A response_url's secret part: where its answers go (and which message it may
        replace), for `HOOK_SECONDS`."""
        hook_id = secrets.token_urlsafe(18)
        self.redis.set(
            self._key("hook", hook_id),
            json.dumps({"conversation": conversation, "user": user, "ts": ts}),
            ex=HOOK_SECONDS,
        )
        return hook_id

    def aim(self, hook_id: str, ts: str) -> None:
        """Let the hook's answers replace message `ts` (a command's ack), unless one already
        came in and took its own place."""
        key = self._key("hook", hook_id)
        raw = self.redis.get(key)
        if raw:
            target = json.loads(raw)
            if not target["ts"]:
                self.redis.set(key, json.dumps({**target, "ts": ts}), keepttl=True)

    def hook_target(self, hook_id: str) -> dict[str, str] | None:
        raw = self.redis.get(self._key("hook", hook_id))
        return json.loads(raw) if raw else None
