"""What the engine asks of a chat front: which open requests it has not shown as they are.

A front keeps its own bookkeeping of what it sent (the Slack front's is
app.slack.sent_messages), so the engine's rescue pass (`Sweeper.rescue`) asks each front
through this port rather than reading a front's fields from the request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Open:
    """An open request as the rescue pass read it: enough for a front to judge its message."""

    id: str
    #: Bumped by every visible change of the request.
    version: int
    created: float


@dataclass
class Unshown:
    """A front's answer: messages behind their request, and requests never shown at all."""

    behind: list[str] = field(default_factory=list)
    #: (creation time, id): the worker leaves the youngest to the process still posting them.
    unposted: list[tuple[float, str]] = field(default_factory=list)


class Shows(Protocol):
    """A front that shows each open request (the Slack approval message)."""

    def unshown(self, requests: list[Open]) -> Unshown:
        """Of these open requests, which it shows in an older version, and which not at all."""
        ...
