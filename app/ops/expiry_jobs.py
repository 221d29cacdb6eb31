"""The expiry sweep's news as durable work: the sweep hands a batch of expiries off as one job
(`hand_off`) and does not wait for Slack; a consumer (in any web process or worker) tells it
(`Engine.tell_expired`). A producer of jobs of its own, apart from any front.
"""

from __future__ import annotations

from collections.abc import Sequence
from secrets import token_hex
from typing import TYPE_CHECKING, Any

from app.jobs.queue import JobQueue
from app.jobs.registry import Registry

if TYPE_CHECKING:
    from app.approvals.decision import HandOff
    from app.approvals.engine import Engine

#: The job that tells Slack of the expiry sweep's expiries (one per batch, `hand_off`), and
#: whose it is for the consumers' fairness: at most MYSAFE_BOT_JOB_PER_PERSON of the sweep's
#: jobs run at once in the deployment, so people's commands pass them by.
TELL_EXPIRED = "tell_expired"
SWEEP = "sweep"


def hand_off(queue: JobQueue) -> HandOff:
    """The sweep's hand-off into `queue`. The hand-off raises `redis.RedisError` when Redis
    cannot take the job (the sweep then keeps them due)."""

    def put(request_ids: Sequence[str]) -> None:
        # `teller` names this hand-off: its job run again (taken over) takes its own claims
        # back, and a batch handed off again is a new job, not a repeat the queue refuses.
        queue.put(TELL_EXPIRED, {"requests": list(request_ids), "teller": token_hex(8)}, who=SWEEP)

    return put


def register(registry: Registry, engine: Engine) -> None:
    """The job's handler: those of its expiries still untold, told (`Engine.tell_expired`)."""

    def tell_expired(body: dict[str, Any]) -> None:
        engine.tell_expired(
            [str(r) for r in body["requests"]][:1000], teller=str(body.get("teller", ""))
        )

    registry.register(TELL_EXPIRED, tell_expired)
