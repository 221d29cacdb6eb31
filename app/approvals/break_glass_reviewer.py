"""Break-glass reviews decided: the one verdict, the access ended when it was not justified.

The reviews' records and deadlines are `BreakGlass`'s (app.approvals.break_glass), below the
engine; this class needs the engine and the revoker, so it lives above both (app.ops.runtime
builds it).
"""

from __future__ import annotations

from collections.abc import Callable

from app.approvals.break_glass import Review, ReviewEvent
from app.approvals.change_request import ChangeRequest
from app.approvals.engine import Engine
from app.approvals.revoker import Revoker
from app.foundations.clock import timestamp
from app.foundations.errors import InvalidTransition, NotAnApprover, RequestNotFound, SelfApproval
from app.i18n import _


class Reviewer:
    """The reviews' decisions and deadlines: needs the engine and the revoker (app.ops.runtime)."""

    def __init__(self, engine: Engine, revoker: Revoker) -> None:
        self.engine = engine
        self.revoker = revoker
        self.book = engine.break_glass

    def decide(
        self,
        request_id: str,
        actor: str,
        *,
        justified: bool,
        now: float | None = None,
    ) -> Review:
        """One verdict, by an approver of the rule who is not the requester. *Not justified*
        ends the access at once if it still runs (the revoke rotates a password) and flags
        the audit record."""
        now = timestamp() if now is None else now
        request = self.engine.get(request_id)
        if self.book.review(request_id) is None:
            raise RequestNotFound(f"{request_id} is not a break-glass request.")
        if self._is_requester(request, actor):
            self._refused(request_id, actor, "self")
            raise SelfApproval("You opened this break-glass: someone else must review it.")
        if not self.engine.approvers.listed(actor, request.approvers or self.engine.settings.approvers):
            self._refused(request_id, actor, "not_approver")
            raise NotAnApprover("Only the approvers of its policy rule review a break-glass.")
        verdict = "justified" if justified else "not_justified"
        status = self.book.give_verdict(request_id, verdict, by=actor, now=now)
        if status != "ok":
            raise InvalidTransition(
                _("{id} was already reviewed ({status}).").format(
                    id=request_id, status=_(status.replace("_", " "))
                ),
                state=status,
            )
        ended = "" if justified else self._end(request_id, actor, now)
        self.engine.audit.record(
            "break_glass.reviewed",
            request=request_id,
            actor=actor,
            verdict=verdict,
            flagged=not justified,
            ended=ended,
        )
        review = self.book.review(request_id)
        assert review is not None
        self.book.tell(request, review, ReviewEvent.REVIEWED)
        return review

    def _end(self, request_id: str, actor: str, now: float) -> str:
        """End the access now; 'ended', or what the share's end already was (done, …)."""
        status = self.revoker.end_now(request_id, actor, why="break-glass not justified", now=now)
        if status == "ok":
            return "ended"
        revoke = self.revoker.store.get(request_id)
        return revoke.state if revoke is not None else status

    def _is_requester(self, request: ChangeRequest, actor: str) -> bool:
        """Any of the actor's identities is the requester's (two Slack accounts, one person)."""
        _, ids = self.engine.identities.of(actor)
        return actor == request.requester or bool(
            set(ids) & set(self.engine.identities.known_as(request.requester))
        )

    def _refused(self, request_id: str, actor: str, why: str) -> None:
        self.engine.audit.record(
            "click.refused", request=request_id, actor=actor, action="review", why=why
        )

    def sweep(self, *, now: float | None = None, stopping: Callable[[], bool] = lambda: False) -> int:
        """Tell again what the listeners missed; escalate each review past its deadline (then
        hourly) until it is answered. How many were told."""
        now = timestamp() if now is None else now
        return self.retell(now=now, stopping=stopping) + self.escalate(now=now, stopping=stopping)

    def retell(self, *, now: float, stopping: Callable[[], bool] = lambda: False) -> int:
        """Each opening or verdict a listener did not hear (Slack was down), told again."""
        told = 0
        for request_id, event in self.book.claim_owed(now):
            if stopping():
                break  # what is claimed comes due again when its claim runs out
            review = self.book.review(request_id)
            request = self.engine.store.get(request_id)
            if review is None or request is None or (event is ReviewEvent.REVIEWED and review.open):
                self.book.forget(request_id, event)  # gone, or a verdict whose script never ran
                continue
            told += self.book.tell(request, review, event)
        return told

    def escalate(self, *, now: float, stopping: Callable[[], bool] = lambda: False) -> int:
        """Each open review past its deadline (or its last escalation's hour), escalated."""
        sent = 0
        for request_id in self.book.claim_due(now):
            if stopping():
                break  # what is claimed comes due again when its claim runs out
            review = self.book.review(request_id)
            request = self.engine.store.get(request_id)
            if review is None or not review.open or request is None:
                self.book.drop(request_id)
                continue
            if not self.book.tell(request, review, ReviewEvent.ESCALATED):
                continue  # its claim runs out and it is tried again
            self.book.escalated(request_id, now=now)
            self.engine.audit.record(
                "break_glass.escalated",
                request=request_id,
                actor="worker",
                to=",".join(review.escalate_to),
                escalation=review.escalations + 1,
            )
            sent += 1
        return sent
