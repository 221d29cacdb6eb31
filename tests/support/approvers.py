"""The approvers port of an engine built by a test: every person the test has click is an
approver of the request's rule, save those it names as not (the chat front's lookup, user
groups and all, is tested through the Slack front)."""

from __future__ import annotations


class Approving:
    def __init__(self, *refused: str) -> None:
        self.refused = frozenset(refused)

    def listed(self, actor: str, approvers: frozenset[str]) -> bool:
        return actor not in self.refused
