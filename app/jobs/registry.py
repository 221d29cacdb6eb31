"""Which handler runs each kind of job: the table a consumer reads.

The assembly (`app.ops.runtime`) builds it before any front, and every producer of jobs (the Slack
front's acks, the expiry sweep's hand-off) registers the kinds it stores with the handler that
does their work. A process that only runs jobs (`mysafe-bot worker`) so needs none of a front's
request machinery: no Bolt app. A kind registered twice is refused at start-up, rather than one
handler silently replacing the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from app.jobs.consumer import Handler


class Registry:
    """kind -> handler, each kind once."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def register(self, kind: str, handler: Handler) -> None:
        if kind in self._handlers:
            raise ValueError(f"job kind {kind!r} is registered twice")
        self._handlers[kind] = handler

    def __getitem__(self, kind: str) -> Handler:
        return self._handlers[kind]

    def __contains__(self, kind: object) -> bool:
        return kind in self._handlers

    def handlers(self) -> Mapping[str, Handler]:
        """A read-only view, for the consumer (which copies it when it starts)."""
        return MappingProxyType(self._handlers)
