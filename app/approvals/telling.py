"""Telling the listeners of a request's change: each is told, and a failing one never undoes
the transition already made (a Slack outage must not lose a state change), save a created
request nobody could be shown, which the caller withdraws.

Who is told is a `Hub`, built by the assembly before the engine and handed to it: the fronts
that listen read the engine (a Home tab renders its queue), so the engine cannot be built
after them, nor they after it with the engine's own list to append to."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

from app.approvals.change_request import ChangeRequest
from app.approvals.decision import Event, Listener, hear
from app.foundations.errors import NotPosted

log = logging.getLogger(__name__)

T = TypeVar("T")


class Hub(Generic[T]):
    """The listeners of one kind of news, in the order they subscribed (the assembly's).

    Built first and given to the part that tells (the engine, the break-glass book) and then
    filled by the assembly with the listeners it builds over that part, before any request
    moves: the one place a listener is added, so nothing reaches into the teller to add one."""

    def __init__(self, listeners: Iterable[T] = ()) -> None:
        self._listeners = list(listeners)

    def subscribe(self, *listeners: T) -> None:
        self._listeners.extend(listeners)

    def __iter__(self) -> Iterator[T]:
        return iter(tuple(self._listeners))

    def __bool__(self) -> bool:
        return bool(self._listeners)

    def __len__(self) -> int:
        return len(self._listeners)

    def __contains__(self, listener: object) -> bool:
        return listener in self._listeners


def tell(listeners: Iterable[Listener], request: ChangeRequest, event: Event) -> bool:
    """Hand the change to every listener; a failing listener never undoes a transition.
    True when none failed."""
    heard = True
    for listener in listeners:
        try:
            hear(listener, request, event)
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
