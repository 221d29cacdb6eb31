"""What a campaign's due date does to the lines nobody decided (`on_timeout`).

- `keep`: each is decided *keep* by the due date (`Decided.by` = `timeout`), its result "not
  reviewed, kept"; the campaign ends.
- `revoke`: each is decided *remove* by the due date and filed as a removal like a reviewer's
  (source `review`, under the policy, with the key of one of its reviewers who is not the
  grantee), audited line by line; the campaign ends, the removals go on through their approvals.
- `escalate`: the people in `escalate_to` become reviewers of those lines and get cards for
  their entries; the campaign runs on until they decide (or an operator cancels it).

Each step may be run again (the task's worker may die): a line decided already is skipped,
and a removal decided by the due date whose request was never filed is filed then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.approvals.review_campaigns import Reviews
from app.approvals.review_records import TIMEOUT, Campaign, CampaignState, Choice, Decided, Line
from app.approvals.review_schedules import OnTimeout
from app.foundations.clock import timestamp
from app.foundations.errors import BotError

log = logging.getLogger(__name__)

NOT_REVIEWED = "not reviewed, kept"


@dataclass(frozen=True)
class Settled:
    """What the due date did: lines kept, revoked (filed), escalated, and left undecided."""

    kept: int = 0
    revoked: int = 0
    escalated: int = 0
    failed: int = 0
    #: Entries (`password:312`) whose lines the due date decided: their cards are redrawn.
    entries: tuple[str, ...] = ()


class DueDate:
    def __init__(self, reviews: Reviews) -> None:
        self.reviews = reviews
        self.store = reviews.store

    def run(
        self, campaign: Campaign, *, escalate: Callable[[Campaign, Sequence[Line]], None]
    ) -> Settled:
        """Apply `campaign.on_timeout` to its undecided lines; `escalate` sends the cards."""
        if campaign.state is not CampaignState.RUNNING:
            return Settled()
        how = OnTimeout(campaign.on_timeout)
        if how is OnTimeout.ESCALATE:
            settled = self.escalate(campaign, escalate)
        else:
            settled = self.revoke(campaign) if how is OnTimeout.REVOKE else self.keep(campaign)
            self.store.end(campaign.name, CampaignState.ENDED)
        self.reviews.engine.audit.record(
            "review.timed_out",
            actor="bot",
            campaign=campaign.name,
            on_timeout=how.value,
            kept=settled.kept,
            revoked=settled.revoked,
            escalated=settled.escalated,
            failed=settled.failed,
        )
        return settled

    def _open(self, campaign: Campaign) -> tuple[list[Line], dict[str, Decided]]:
        decided = self.store.decisions(campaign.name)
        return [ln for ln in self.store.lines(campaign.name) if ln.id not in decided], decided

    def keep(self, campaign: Campaign) -> Settled:
        lines, _ = self._open(campaign)
        counted = self.reviews.counted(lines)
        kept = 0
        for line in lines:
            kept += self._keep(campaign.name, line, counted[line.id])
        return Settled(kept=kept, entries=_entries(lines))

    def _keep(self, name: str, line: Line, counted: Sequence[str]) -> int:
        claim = self.store.decide(name, line, Decided(Choice.KEEP, TIMEOUT, timestamp()), counted)
        if claim.status != "ok":
            return 0
        self.store.outcome(name, line.id, "", NOT_REVIEWED)
        return 1

    def revoke(self, campaign: Campaign) -> Settled:
        lines, decided = self._open(campaign)
        unfiled = [
            ln
            for ln in self.store.lines(campaign.name)
            if (d := decided.get(ln.id)) is not None and d.by == TIMEOUT and not d.request
        ]
        counted = self.reviews.counted([*lines, *unfiled])
        gone = self.store.gone(campaign.name)  # their keys no longer work: file with another's
        kept = revoked = failed = 0
        for line in [*lines, *unfiled]:
            who = sorted(counted[line.id], key=lambda r: r in gone)
            if not who:  # only the grantee reviews it: nobody else's key may remove it
                kept += self._keep(campaign.name, line, who)
                continue
            earlier = decided.get(line.id)
            decision = earlier or Decided(Choice.REMOVE, TIMEOUT, timestamp())
            if earlier is None and self.store.decide(campaign.name, line, decision, who).status != "ok":
                continue
            try:
                filed = self.reviews.file_removal(
                    campaign.name,
                    line,
                    who[0],
                    decision,
                    why="not reviewed by the due date (on_timeout: revoke)",
                )
            except BotError as error:  # the line is open again: the report shows it undecided
                failed += 1
                log.warning(
                    "review removal at the due date not filed",
                    extra={
                        "event": "review.revoke_failed",
                        "line": line.id,
                        "error": type(error).__name__,
                    },
                )
                continue
            revoked += 1
            self.reviews.engine.audit.record(
                "review.decided",
                actor=TIMEOUT,
                campaign=campaign.name,
                line=line.id,
                decision=Choice.REMOVE.value,
                request=filed.request,
            )
        return Settled(kept=kept, revoked=revoked, failed=failed, entries=_entries([*lines, *unfiled]))

    def escalate(self, campaign: Campaign, send: Callable[[Campaign, Sequence[Line]], None]) -> Settled:
        lines, _ = self._open(campaign)
        if not lines:
            self.store.end(campaign.name, CampaignState.ENDED)
            return Settled()
        for target in campaign.escalate_to:
            self.store.add_reviewer(campaign.name, lines, target)
        self.store.mark(campaign.name, escalated=str(len(lines)))
        entries = {ln.entry for ln in lines}
        shown = [ln for ln in self.store.lines(campaign.name) if ln.entry in entries]
        send(campaign, shown)
        return Settled(escalated=len(lines))


def _entries(lines: Sequence[Line]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(ln.entry for ln in lines))
