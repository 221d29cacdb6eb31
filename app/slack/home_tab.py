"""The App Home: rendered in one place, and re-published when a request it shows changes.

Slack keeps a published Home as it was: after a click in the channel, an expiry or a cancel,
the Approve and Cancel buttons someone sees would be stale. So the Home of the people a change
concerns is published again: the requester's, and that of every approver who opened their
Home recently (`P:home:viewers`, a sorted set by last open time). Bursts are coalesced: one
publish per person per `DEBOUNCE` seconds, rendering the state as it is when it fires.
"""

from __future__ import annotations

import logging
import threading

from slack_sdk import WebClient

from app.approvals.change_request import ChangeRequest
from app.approvals.decision import Event, EveryChange
from app.approvals.engine import Engine
from app.approvals.review_campaigns import Reviews
from app.approvals.revokes import Revoke
from app.foundations.clock import timestamp
from app.mysafe.models import Kind
from app.slack import blocks
from app.slack.approvers import Approvers
from app.slack.languages import Languages
from app.slack.review_cards import home_blocks as review_home
from app.slack.revoke_notices import home_blocks

log = logging.getLogger(__name__)

DEBOUNCE = 0.5
#: How long after opening their Home an approver's is kept fresh (seconds).
RECENT = 15 * 60


class HomeTab(EveryChange):
    def __init__(
        self,
        engine: Engine,
        client: WebClient,
        approvers: Approvers,
        *,
        languages: Languages,
        reviews: Reviews | None = None,
    ) -> None:
        self.engine = engine
        self.reviews = reviews
        self.client = client
        self.approvers = approvers
        self.viewers_key = f"{engine.settings.key_prefix}:home:viewers"
        #: Each Home speaks its viewer's language.
        self.languages = languages
        self._pending: dict[str, threading.Timer] = {}
        self._lock = threading.Lock()

    def publish(self, user: str, *, start: int = 0) -> None:
        """Render and publish `user`'s Home: their requests, the reviews waiting for their
        decisions, and (approvers) the entries disabled through the bot and what waits for
        them."""
        with self.languages.to_person(user):
            self._publish(user, start=start)

    def _publish(self, user: str, *, start: int) -> None:
        queue, waiting, disabled = None, 0, []
        if user in self.approvers:
            disabled = [e for kind in Kind for e in self.engine.disabled.known(kind)]
            disabled.sort(key=lambda e: e.at, reverse=True)
            queue, waiting = self.engine.waiting_for(
                user,
                may_decide=lambda listed: self.approvers.listed(
                    user, listed or self.approvers.settings.approvers
                ),
                start=start,
                count=blocks.HOME_PAGE_SIZE,
            )
        self.client.views_publish(
            user_id=user,
            view=blocks.home_view(
                self.engine.open_for(user),
                queue,
                waiting=waiting,
                start=start,
                time_bound=[
                    *(review_home(self.reviews.waiting_for(user)) if self.reviews else []),
                    *home_blocks(self.engine.time_bound_for(user), viewer=user),
                ],
                disabled=disabled,
                passkeys=self.engine.stepup.passkeys.of(user),
            ),
        )

    def opened(self, user: str) -> None:
        """The person looks at their Home now: publish it and keep it fresh for a while."""
        self.engine.services.redis.zadd(self.viewers_key, {user: timestamp()})
        self.publish(user)

    # --- engine listener ---------------------------------------------------------------------

    def changed(self, request: ChangeRequest, event: Event) -> None:
        for user in self._concerned(request):
            self._soon(user)

    def revoke_changed(self, revoke: Revoke, event: str) -> None:
        """A `Revoker` listener: a time-bound share was reminded, ended or given up on, so the
        owner's and grantees' lists of running shares change (those looking at them see it)."""
        recent = set(
            self.engine.services.redis.zrangebyscore(self.viewers_key, timestamp() - RECENT, "+inf")
        )
        for user in {revoke.owner, *revoke.notify} & recent:
            self._soon(user)

    def _concerned(self, request: ChangeRequest) -> set[str]:
        redis_client = self.engine.services.redis
        recent = set(redis_client.zrangebyscore(self.viewers_key, timestamp() - RECENT, "+inf"))
        return ({request.requester} & recent) | {u for u in recent if u in self.approvers}

    def _soon(self, user: str) -> None:
        with self._lock:
            if user in self._pending:
                return  # a publish is already due: it will render the latest state
            timer = threading.Timer(DEBOUNCE, self._fire, args=(user,))
            timer.daemon = True
            self._pending[user] = timer
        timer.start()

    def _fire(self, user: str) -> None:
        with self._lock:
            self._pending.pop(user, None)
        try:
            self.publish(user)
        except Exception as error:  # noqa: BLE001 - a timer thread: log, never raise into nothing
            log.warning(
                "home not refreshed",
                extra={"event": "home.refresh_error", "user": user, "error": type(error).__name__},
            )
