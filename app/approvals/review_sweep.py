"""The worker's part of access reviews: scheduled campaigns, start jobs, reminders, due dates.

Every worker pass (`mysafe-bot worker`) calls `ReviewSweeper.sweep`:

1. **Schedules** (the policy's `reviews:`): for each, the campaign of the period `now` falls
   in is begun unless it exists. Its name comes from the period (`quarterly-prod-20260101`)
   and beginning it is one script that makes its hash only if the key is free — a SET NX keyed
   by the period: of several workers, exactly one begins it, once per period, and a worker
   killed half-way leaves either no campaign (the next pass begins it) or a starting one
   whose start job is already queued.
2. **Tasks** (app.approvals.review_tasks), each claimed under a lease, so a worker killed
   while it runs one leaves it to another once the lease passes:
   - *start*: read MySafe and fill the campaign (one atomic step), then post the cards (those
     posted before are not posted again) and mark them done;
   - *remind*: each reviewer with undecided lines is reminded, at most once per reminder
     interval (a SET NX per reviewer and interval), then the next reminder is queued;
   - *timeout*: `on_timeout` at the due date (app.approvals.review_due);
   - *escalate*: reviewers whose MySafe key stopped working mid-campaign (see below).
3. **Reviewers whose key no longer works** (MySafe refuses it, it was unlinked, or it cannot
   be decrypted; recorded by app.approvals.review_campaigns at the start or when a decision
   of theirs fails) are escalated at once, each once: their undecided lines get the
   campaign's `escalate_to` as reviewers, who get cards for them, and a notice naming the
   reviewer and why goes to `escalate_to` (without one, to the approvals channel). The start,
   the reminders and the due date also send any such escalation still owed.

The chat side is a port (`ReviewFront`): app.slack.review_cards implements it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

import redis

from app.approvals.engine import Engine
from app.approvals.review_campaigns import Reviews
from app.approvals.review_due import DueDate
from app.approvals.review_records import Campaign, CampaignState, Line, new_campaign
from app.approvals.review_schedules import ReviewSchedule
from app.approvals.review_tasks import Due, Task
from app.foundations.clock import timestamp
from app.foundations.errors import BotError
from app.mysafe.models import Kind

log = logging.getLogger(__name__)

#: What Slack says of a reviewer who left: their lines go to `escalate_to` at once.
LEFT = frozenset({"user_not_found", "account_inactive", "user_disabled"})


@dataclass(frozen=True)
class Posted:
    """Cards sent, and (reviewer, entry, Slack's error) of each Slack refused."""

    cards: int
    failed: tuple[tuple[str, str, str], ...] = ()


class ReviewFront(Protocol):
    def post(
        self, campaign: Campaign, lines: Sequence[Line], *, to: Collection[str] | None = None
    ) -> Posted:
        """Each reviewer (of `to`, when given) a card per entry, skipping cards sent before."""

    def remind(self, campaign: Campaign, reviewer: str, *, lines: int, entries: int) -> str:
        """Tell `reviewer` what still waits for them; the chat's error when it refuses ("":
        sent)."""

    def redraw(self, campaign: Campaign, entry: str) -> None:
        """Every reviewer's card of `entry`, as the decisions stand now."""

    def key_gone(self, campaign: Campaign, reviewer: str, *, why: str, lines: int, entries: int) -> int:
        """Tell the escalation target (or the approvers) that `reviewer`'s MySafe key no longer
        works, why, and how many undecided lines went to them; notices sent."""


def schedules_in_force(engine: Engine) -> Callable[[], Sequence[ReviewSchedule]]:
    """The policy's `reviews:`, only while this process's policy is the one in force across
    the deployment (app.approvals.in_force): a process left with an older file, whose rules
    decide nothing, begins no campaign from its older schedules either."""

    def schedules() -> Sequence[ReviewSchedule]:
        policy = engine.policy.current
        if not policy.reviews or engine.in_force.not_in_force(publish=False) is not None:
            return ()
        return policy.reviews

    return schedules


@dataclass(frozen=True)
class Started:
    campaign: Campaign
    lines: tuple[Line, ...]
    posted: Posted


class ReviewSweeper:
    def __init__(
        self,
        reviews: Reviews,
        front: ReviewFront | None,
        *,
        schedules: Callable[[], Sequence[ReviewSchedule]],
    ) -> None:
        self.reviews = reviews
        self.store = reviews.store
        self.tasks = reviews.tasks
        self.front = front
        self.schedules = schedules
        self.due_date = DueDate(reviews)

    def sweep(self, *, now: float | None = None, stopping: Callable[[], bool] = lambda: False) -> int:
        """One pass: begin scheduled campaigns, then run what is due. Returns tasks run."""
        now = timestamp() if now is None else now
        self.schedule(now)
        done = 0
        for due in self.tasks.claim(now):
            if stopping():
                break  # claimed and not run: due again once the lease passes
            try:
                self.run(due, now=now)
            except (BotError, redis.RedisError) as error:  # left for the lease to retry
                log.warning(
                    "review task failed",
                    extra={
                        "event": "review.task_failed",
                        "task": due.member,
                        "error": type(error).__name__,
                    },
                )
                continue
            done += 1
        return done

    def schedule(self, now: float) -> list[str]:
        """Begin the current period's campaign of every schedule that has none yet."""
        begun = []
        for schedule in self.schedules():
            name = schedule.period(now).campaign
            if self.store.redis.exists(self.store.campaign_key(name)):
                continue
            campaign = new_campaign(
                name=name,
                due=schedule.due,
                tags=schedule.tags,
                kinds=[Kind(k) for k in schedule.kinds] or list(Kind),
                started_by=f"schedule:{schedule.name}",
                on_timeout=schedule.on_timeout,
                escalate_to=schedule.escalate_to,
                remind_every=schedule.remind_every,
                schedule=schedule.name,
                now=now,
            )
            if self.reviews.begin(campaign):
                begun.append(name)
                log.info(
                    "scheduled review begun",
                    extra={"event": "review.scheduled", "campaign": name, "schedule": schedule.name},
                )
        return begun

    def run(self, due: Due, *, now: float) -> None:
        if due.task is Task.START:
            self.start(due.campaign)
        elif due.task is Task.ESCALATE:
            self.key_gone(due.campaign)
            self.tasks.done(due)
            if self.front is not None and self.store.untold(due.campaign):  # died meanwhile
                self.tasks.add(Task.ESCALATE, due.campaign, timestamp())
        elif due.task is Task.REMIND:
            self.remind(due.campaign, now=now)
        else:
            self.time_out(due.campaign)

    # --- start --------------------------------------------------------------------------------

    def start(self, name: str) -> Started | None:
        """The start job: fill, post the cards, mark them done. Run again, it does what is
        left; None when there is nothing (left) to start."""
        filled = self.reviews.fill(name)
        campaign = self.store.campaign(name)
        if campaign is None or campaign.state is not CampaignState.RUNNING:
            self.tasks.done(Due(Task.START, name))
            return None
        lines = tuple(filled[1] if filled else self.store.lines(name))
        posted = Posted(0)
        if not self.store.flag(name, "cards_done"):
            if self.front is not None:
                posted = self.front.post(campaign, lines)
                self._left(campaign, lines, {r for r, _, said in posted.failed if said in LEFT})
            self.store.mark(name, cards_done="1")
            self.reviews.engine.audit.record(
                "review.cards_sent",
                actor="bot",
                campaign=name,
                cards=posted.cards,
                refused=len(posted.failed),
            )
        self.key_gone(name)
        self.tasks.done(Due(Task.START, name))
        return Started(campaign, lines, posted)

    def _left(self, campaign: Campaign, lines: Sequence[Line], gone: set[str]) -> None:
        """Reviewers who left Slack: their undecided lines go to `escalate_to` at once, when
        there is one."""
        theirs = [ln for ln in lines if gone & set(ln.reviewers)]
        decided = self.store.decisions_of(campaign.name, [ln.id for ln in theirs])
        mine = [ln for ln in theirs if ln.id not in decided]
        if not mine or not campaign.escalate_to:
            return
        for target in campaign.escalate_to:
            self.store.add_reviewer(campaign.name, mine, target)
        entries = {ln.entry for ln in mine}
        shown = [ln for ln in self.store.lines(campaign.name) if ln.entry in entries]
        self._escalate(campaign, shown)

    def _escalate(self, campaign: Campaign, lines: Sequence[Line]) -> None:
        if self.front is not None:
            self.front.post(campaign, lines, to=campaign.escalate_to)
        self.reviews.engine.audit.record(
            "review.escalated",
            actor="bot",
            campaign=campaign.name,
            to=",".join(campaign.escalate_to),
            entries=len({ln.entry for ln in lines}),
        )

    def key_gone(self, name: str) -> int:
        """Escalate each reviewer whose MySafe key no longer works, once: their undecided lines
        (none known at the start: their key could list nothing) go to `escalate_to`, who get
        cards for them, and the notice says who and why. Each is claimed first (a SADD), so
        of several workers one sends it; returns reviewers escalated."""
        campaign = self.store.campaign(name)
        untold = self.store.untold(name)
        if campaign is None or campaign.state is not CampaignState.RUNNING or not untold:
            return 0
        if self.front is None:
            return 0  # a worker with Slack sends it
        lines, decided = self.store.lines(name), self.store.decisions(name)
        escalated = 0
        for reviewer, why in sorted(untold.items()):
            if not self.store.tell_once(name, reviewer):
                continue
            mine = [ln for ln in lines if reviewer in ln.reviewers and ln.id not in decided]
            entries = {ln.entry for ln in mine}
            if mine and campaign.escalate_to:
                for target in campaign.escalate_to:
                    self.store.add_reviewer(name, mine, target)
            self.reviews.engine.audit.record(
                "review.escalated",
                actor="bot",
                campaign=name,
                reviewer=reviewer,
                why=why,
                lines=len(mine),
                to=",".join(campaign.escalate_to) or "approvers",
            )
            if mine and campaign.escalate_to:
                shown = [ln for ln in self.store.lines(name) if ln.entry in entries]
                self.front.post(campaign, shown, to=campaign.escalate_to)
            self.front.key_gone(campaign, reviewer, why=why, lines=len(mine), entries=len(entries))
            escalated += 1
        return escalated

    # --- reminders and the due date -----------------------------------------------------------

    def remind(self, name: str, *, now: float) -> int:
        """Remind each reviewer with undecided lines, once in this interval; queue the next."""
        campaign = self.store.campaign(name)
        if (
            campaign is None
            or campaign.state is not CampaignState.RUNNING
            or not campaign.remind_every
            or now >= campaign.due
        ):
            self.tasks.done(Due(Task.REMIND, name))
            return 0
        self.key_gone(name)
        every = campaign.remind_every
        interval = int((now - campaign.started) // every)
        sent = 0
        for reviewer in self.store.open_reviewers(name):
            if self.front is None or not self.store.remind_once(name, reviewer, interval, every):
                continue
            lines, entries = self.store.waiting(name, reviewer)
            said = self.front.remind(campaign, reviewer, lines=lines, entries=entries)
            if said in LEFT:  # they left Slack: their lines go to escalate_to now
                self._left(campaign, self.store.lines(name), {reviewer})
                continue
            sent += 1
        following = campaign.started + (interval + 1) * every
        if following < campaign.due:
            self.tasks.add(Task.REMIND, name, following)
        else:
            self.tasks.done(Due(Task.REMIND, name))
        return sent

    def time_out(self, name: str) -> None:
        campaign = self.store.campaign(name)
        if campaign is not None:
            self.key_gone(name)  # before the due date decides what they left
            settled = self.due_date.run(campaign, escalate=self._escalate)
            if self.front is not None:
                for entry in settled.entries:
                    self.front.redraw(campaign, entry)
        self.tasks.done(Due(Task.TIMEOUT, name))
