"""Telling the ticket how its request ended: signed POSTs to `callback_url`, retried for a while.

The engine listener only queues the delivery in Redis (a sorted set by due time), so a click
never waits on a ticket system and nothing is lost if the process dies. `mysafe-bot worker`
delivers what is due, in its own thread (a slow ticket host never delays expiry or the
take-over of stuck applies), several at once within a time budget per pass. A worker *claims*
a delivery by moving its due time `VISIBILITY` seconds ahead (one script, so one claimant);
the delivery leaves the queue only once it is done or rescheduled, so a worker stopped
mid-batch loses nothing: the claim runs out and another worker delivers it. Each POST is
signed when it is sent, not when the batch started. A failed delivery is rescheduled with
exponential backoff, up to `MAX_ATTEMPTS`; every try goes to the audit trail. Redirects are
not followed, and only allow-listed origins (scheme, host and port: see
`app.foundations.origins`) are called.

The payload's `state`, ids and keys are for the ticket system's rules and never change; its
`message` is a sentence a person reads on the ticket, said in the workspace's language
(MYSAFE_BOT_LOCALE: the webhook front does not read Slack profiles). MySafe's own words (an
applied change's message) and the account of a failed apply (stored in English, as the audit
trail keeps it) are shown as they are.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import requests

from app.approvals.audit import Audit
from app.approvals.change_request import ChangeRequest
from app.approvals.decision import Event, EveryChange
from app.approvals.machine import State
from app.foundations.clock import timestamp
from app.foundations.origins import allowed
from app.foundations.scripts import lua
from app.foundations.settings import Settings
from app.foundations.storage import RedisClient
from app.i18n import _, speaking
from app.webhooks.signing import signed_headers

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF = 5.0  # seconds before the 2nd try; doubling: 5, 10, 20 … about 10 minutes in all
#: Seconds a claimed delivery stays invisible to other workers (longer than one POST may take).
VISIBILITY = 60.0
#: Deliveries in flight at once, and the seconds one POST may take.
CONCURRENCY = 8
POST_TIMEOUT = 10.0
_REPORTED = frozenset({State.APPLIED, State.DENIED, State.EXPIRED, State.CANCELLED, State.FAILED})


class TicketCallbacks(EveryChange):
    def __init__(
        self,
        settings: Settings,
        redis: RedisClient,
        audit: Audit,
        session: requests.Session | None = None,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.audit = audit
        self.key = f"{settings.key_prefix}:callbacks"
        self.session = session or requests.Session()
        self._claim = redis.register_script(lua("app.webhooks", "callback_claim"))

    # --- engine listener ---------------------------------------------------------------------

    def changed(self, request: ChangeRequest, event: Event) -> None:
        ticket = request.ticket or {}
        if not ticket.get("callback_url") or request.state not in _REPORTED:
            return
        payload = {
            "event_id": ticket.get("event_id", ""),
            "request_id": request.id,
            "ticket": {"key": ticket.get("key", ""), "url": ticket.get("url", "")},
            "state": request.state.value,
            "message": self._message(request),
        }
        self.queue({"url": ticket["callback_url"], "payload": payload, "attempt": 1}, due=timestamp())

    def _message(self, request: ChangeRequest) -> str:
        with speaking(self.settings.bot_locale):
            return _message(request)

    def queue(self, job: dict, *, due: float) -> None:
        self.redis.zadd(self.key, {json.dumps(job, sort_keys=True): due})

    # --- worker ------------------------------------------------------------------------------

    def deliver_due(self, *, now: float | None = None, limit: int = 50) -> int:
        """Deliver what is due, `CONCURRENCY` at a time; returns how many were delivered."""
        now = timestamp() if now is None else now
        due = self.redis.zrangebyscore(self.key, "-inf", now, start=0, num=limit)
        claimed = [m for m in due if self._claim(keys=[self.key], args=[m, now, now + VISIBILITY])]
        if not claimed:
            return 0
        with ThreadPoolExecutor(min(CONCURRENCY, len(claimed))) as pool:
            return sum(pool.map(lambda member: self._settle(member, now), claimed))

    def _settle(self, member: str, now: float) -> int:
        """Deliver one claimed job; it leaves the queue only after it is done or requeued."""
        delivered = self._deliver(json.loads(member), now)
        self.redis.zrem(self.key, member)
        return delivered

    def _deliver(self, job: dict, now: float) -> int:
        payload = job["payload"]
        body = json.dumps(payload).encode()
        request_id, attempt = payload["request_id"], job["attempt"]
        host = (urlsplit(job["url"]).hostname or "").lower()
        if not allowed(job["url"], self.settings.callback_hosts):  # scheme and port too
            self.audit.record("callback.refused", request=request_id, actor="worker", host=host)
            return 0
        try:
            response = self.session.post(
                job["url"],
                data=body,
                timeout=POST_TIMEOUT,
                allow_redirects=False,
                headers={
                    "Content-Type": "application/json",  # signed as it leaves
                    **signed_headers(self.settings.webhook_secret, body),
                },
            )
            ok, outcome = response.status_code < 300, f"HTTP {response.status_code}"
        except requests.RequestException as error:
            ok, outcome = False, type(error).__name__
        if ok:
            self.audit.record(
                "callback.delivered",
                request=request_id,
                actor="worker",
                host=host,
                attempt=attempt,
                outcome=outcome,
            )
            return 1
        if attempt >= MAX_ATTEMPTS:
            self.audit.record(
                "callback.gave_up",
                request=request_id,
                actor="worker",
                host=host,
                attempt=attempt,
                outcome=outcome,
            )
            return 0
        self.audit.record(
            "callback.retry",
            request=request_id,
            actor="worker",
            host=host,
            attempt=attempt,
            outcome=outcome,
        )
        self.queue({**job, "attempt": attempt + 1}, due=now + BACKOFF * 2 ** (attempt - 1))
        return 0


def _message(request: ChangeRequest) -> str:
    """The outcome as the ticket shows it, in the language spoken now."""
    if request.state is State.APPLIED:
        return request.result.get("message") or _(request.state.value)
    if request.state is State.FAILED:
        return request.error
    if request.state is State.DENIED and request.deny_reason:
        return _("denied: {reason}").format(reason=request.deny_reason)
    return _(request.state.value)
