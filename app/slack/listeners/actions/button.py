"""A durable button, declared once: the action id its blocks carry, the kind of job its click
stores, and the work that job does. Bolt's listener (`listener`, for Socket Mode) and the
route's fast ack (`app.slack.intake`) both take the click through `take`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.slack.listeners.actions.deps import Deps
from app.slack.payloads import problem
from app.slack.respond import Respond

log = logging.getLogger(__name__)

#: A button's job: the listeners' dependencies, the click's body, its `response_url` answer.
ButtonWork = Callable[[Deps, dict[str, Any], Respond | None], None]


@dataclass(frozen=True)
class Button:
    action_id: str
    kind: str
    work: ButtonWork

    def take(self, deps: Deps, body: dict[str, Any]) -> None:
        """The click's ack (empty): its job stored, or the person told nothing was done."""
        deps.durable.take(self.kind, body)

    def listener(self, deps: Deps) -> Callable[..., None]:
        """Bolt's ack listener: store the job, then ack."""

        def store_then_ack(ack: Callable[..., Any], body: dict[str, Any]) -> None:
            # Over HTTP the route checked the shape already; Socket Mode comes straight here.
            why = problem(body)
            if why is not None:
                log.warning("malformed slack payload", extra={"event": "slack.malformed", "why": why})
            else:
                self.take(deps, body)
            ack()

        return store_then_ack

    def job(self, deps: Deps) -> Callable[[dict[str, Any], Respond | None], None]:
        """The job's handler, over these dependencies."""
        return lambda body, respond: self.work(deps, body, respond)
