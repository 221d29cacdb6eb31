"""Telling the listeners of a request's change: each is told, and a failing one never undoes
the transition already made (a Slack outage must not lose a state change), save a created
request nobody could be shown, which the caller withdraws."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from app.approvals.change_request import ChangeRequest
from app.approvals.decision import Event, Listener
from app.foundations.errors import NotPosted

log = logging.getLogger(__name__)


def tell(listeners: Sequence[Listener], request: ChangeRequest, event: Event) -> bool:
    """Hand the change to every listener; a failing listener never undoes a transition.
    True when none failed."""
    heard = True
    for listener in listeners:
        try:
            listener(request, event)
        except NotPosted:
            if event is Event.CREATED:
                raise  # nobody can approve it: the caller withdraws it
            heard = False
        except Exception:  # noqa: BLE001 - a Slack outage must not lose the state change
            log.exception(
                "listener failed",
                extra={"event": "listener.error", "request": request.id, "what": event},
            )
            heard = False
    return heard
