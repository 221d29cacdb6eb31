"""What the buttons' listeners need, built once per process (`app.slack.listeners`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient

from app.approvals.break_glass_reviewer import Reviewer
from app.approvals.engine import Engine
from app.approvals.review_campaigns import Reviews
from app.approvals.revoker import Revoker
from app.services import Services
from app.slack.approvers import Approvers
from app.slack.home_tab import HomeTab
from app.slack.listeners.durable import Durable, tell
from app.slack.review_cards import ReviewCards


@dataclass(frozen=True)
class Deps:
    services: Services
    engine: Engine
    client: WebClient
    approvers: Approvers
    home: HomeTab
    durable: Durable
    revoker: Revoker | None = None
    reviews: Reviews | None = None
    review_cards: ReviewCards | None = None
    reviewer: Reviewer | None = None

    def tell(self, body: dict[str, Any], respond: Callable[..., Any] | None, text: str) -> None:
        """An ephemeral answer to the person who clicked; the channel message is untouched."""
        tell(self.client, body, respond, text)
