"""Who may approve, as the engine asks it: a port the chat front implements.

The engine decides *which* approvers a decision answers to (the request's rule, else the
settings' one rule; a time-bound share's, kept on its revoke record); the port says whether a
person is among them, which only a front can tell for a group (a Slack user group's members).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

#: Why a person may neither request nor approve (a guest, another organisation, a deactivated
#: account, a bot), or None when they may: the chat front knows, the engine asks.
Standing = Callable[[str], str | None]


class Approvers(Protocol):
    """Whether a person is among a rule's approvers (user IDs, and groups the front knows)."""

    def listed(self, actor: str, approvers: frozenset[str]) -> bool:
        """True when `actor` is one of `approvers`, or a member of one of its groups."""
        ...


class Named:
    """The approvers named one by one, groups never resolved: the answer without a chat front
    (an unknown group widens nothing)."""

    def listed(self, actor: str, approvers: frozenset[str]) -> bool:
        return actor in approvers
