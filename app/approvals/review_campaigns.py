"""Access review campaigns: who reviews what, decisions through the engine, the report.

- `start` lists, with each linked person's own key, the entries they can edit (the campaign's
  kinds, and tags when given): those people are the entry's reviewers. Each entry is read once
  (with its first reviewer's key) and every user and group on it becomes a line.
- `decide` re-reads the entry with the deciding reviewer's key first: a line whose right
  changed since the card was made is not decided (the card never applies a decision to a list
  it did not show). The decision is then claimed atomically (one per line). *Remove* and
  *Reduce to view* become ordinary requests (unshare, reduce) filed as the reviewer, under the
  policy (source `review`): approvers decide them as any other, and the engine applies them
  with the reviewer's own key.
- As a listener of the engine, it files each removal's outcome on its line: once applied, the
  entry is read back with the reviewer's key (`removed` / `reduced`, or `drift: …` when it
  does not show that); a request denied, expired or failed is said so.
- A reviewer whose MySafe key no longer works (MySafe refuses it, it was unlinked, or no
  configured key decrypts it) is recorded as *gone* (`ReviewStore.key_gone`): at the start,
  when their key cannot list entries; later, when a decision of theirs cannot read the entry.
  The worker (app.approvals.review_sweep) escalates them at once.
- `report` gives every line with its decision as CSV and JSON, and records their SHA-256 in
  the audit log.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from app.approvals.change_diff import EDIT, GROUPS, VIEW
from app.approvals.change_request import ChangeRequest
from app.approvals.changes import Change, Verb
from app.approvals.decision import Event, EveryChange
from app.approvals.engine import Engine
from app.approvals.grants import named, rights
from app.approvals.review_creators import Creators
from app.approvals.review_records import (
    Campaign,
    CampaignState,
    Choice,
    Decided,
    Line,
    jsonable,
    line_id,
    new_campaign,
)
from app.approvals.review_report import Report, build
from app.approvals.review_survey import Plan, counted, key_gone, same, survey
from app.approvals.review_tasks import LEASE, Due, ReviewTasks, Task
from app.approvals.reviews import ReviewStore
from app.foundations import metrics
from app.foundations.clock import timestamp
from app.foundations.errors import ApprovalError, BotError, ValidationError
from app.i18n import _
from app.mysafe.models import Entry, GroupShare, Kind, UserShare

log = logging.getLogger(__name__)

SOURCE = "review"
#: Request events that settle a removal's line (applied is read back first).
SETTLED = frozenset({"applied", "failed", "denied", "expired", "cancelled"})


@dataclass(frozen=True)
class Outcome:
    """What a click did: the line, its decision, and whether this click made it."""

    line: Line
    decided: Decided
    new: bool


@dataclass(frozen=True)
class Waiting:
    """A running campaign with lines a reviewer has still to decide."""

    campaign: Campaign
    lines: int
    entries: int


class Reviews(EveryChange):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store = ReviewStore(engine.services.redis, prefix=engine.settings.key_prefix)
        self.tasks = ReviewTasks(engine.services.redis, prefix=engine.settings.key_prefix)
        self.creators = Creators(engine.services.redis, prefix=engine.settings.key_prefix)

    # --- start --------------------------------------------------------------------------------

    def begin(self, campaign: Campaign, *, claimed: bool = False) -> bool:
        """Queue a campaign's start as a durable job (app.approvals.review_sweep runs it);
        False if the name is taken. The job is queued before the campaign is made, so a
        starting campaign always has its job; `claimed`: this process runs it now, and a
        worker takes it over if this process dies (after the tasks' lease)."""
        self.tasks.add(Task.START, campaign.name, campaign.started + (LEASE if claimed else 0), nx=True)
        if not self.store.begin(campaign):
            taken = self.store.campaign(campaign.name)
            if taken is None or taken.state is not CampaignState.STARTING:  # its job is done
                self.tasks.done(Due(Task.START, campaign.name))
            return False
        self.engine.audit.record(
            "review.started",
            actor=campaign.started_by,
            campaign=campaign.name,
            due=int(campaign.due),
            on_timeout=campaign.on_timeout,
            schedule=campaign.schedule,
        )
        return True

    def fill(self, name: str) -> tuple[Campaign, list[Line]] | None:
        """The start job's first part: read MySafe and make a starting campaign running with
        its lines, in one step; None if it is not starting (done before, or cancelled)."""
        campaign = self.store.campaign(name)
        if campaign is None or campaign.state is not CampaignState.STARTING:
            return None
        plan = self.survey(tags=campaign.tags, kinds=[Kind(k) for k in campaign.kinds])
        lines = plan.lines
        self._record_gone(campaign, plan.gone)  # first: a start that dies after fill keeps them
        if not self.store.fill(campaign, lines, self.counted(lines)):
            return None
        self.follow_up(campaign)
        self.engine.audit.record("review.filled", actor="bot", campaign=name, lines=len(lines))
        return replace(campaign, state=CampaignState.RUNNING), lines

    def follow_up(self, campaign: Campaign) -> None:
        """Queue the campaign's first reminder and its due date (again, if run again)."""
        if campaign.remind_every and campaign.started + campaign.remind_every < campaign.due:
            self.tasks.add(Task.REMIND, campaign.name, campaign.started + campaign.remind_every)
        self.tasks.add(Task.TIMEOUT, campaign.name, campaign.due)

    def start(
        self,
        *,
        name: str,
        due: int,
        tags: Sequence[str] = (),
        kinds: Sequence[Kind] = tuple(Kind),
        started_by: str = "cli",
        **options: Any,
    ) -> tuple[Campaign, list[Line]]:
        """Make a campaign and its lines here and now (no cards: see `ReviewCards.post`);
        raises `ValidationError` for a bad or taken name."""
        campaign = new_campaign(
            name=name, due=due, tags=tags, kinds=kinds, started_by=started_by, **options
        )
        plan = self.survey(tags=tags, kinds=kinds)
        lines = plan.lines
        if not self.store.create(campaign, lines, self.counted(lines)):
            raise ValidationError({"name": f"a campaign named {name} exists already"})
        if self._record_gone(campaign, plan.gone):  # no start job here: the worker tells
            self.tasks.add(Task.ESCALATE, name, timestamp())
        self.follow_up(campaign)
        self.engine.audit.record(
            "review.started", actor=started_by, campaign=name, lines=len(lines), due=int(campaign.due)
        )
        return replace(campaign, state=CampaignState.RUNNING), lines

    def _record_gone(self, campaign: Campaign, gone: dict[str, str]) -> bool:
        """Record each reviewer whose key no longer works; True if one is new."""
        return any(
            [self.store.key_gone(campaign.name, r, why, ttl=campaign.ttl) for r, why in gone.items()]
        )

    def plan(self, *, tags: Sequence[str], kinds: Sequence[Kind]) -> list[Line]:
        """Every user and group on every entry some linked person can edit (or created through
        the bot), with its reviewers: those people."""
        return self.survey(tags=tags, kinds=kinds).lines

    def survey(self, *, tags: Sequence[str], kinds: Sequence[Kind]) -> Plan:
        """`plan`'s lines, and the people whose key no longer works: they review nothing here,
        and are escalated (the bot cannot list what their key would show)."""
        return survey(
            self.engine.services.vault, self.engine.client_for, self.creators, tags=tags, kinds=kinds
        )

    def counted(self, lines: Sequence[Line]) -> dict[str, list[str]]:
        """For each line, the reviewers who may decide it (not the grantee themselves)."""
        return counted(self.engine.services.vault, lines)

    # --- decisions ----------------------------------------------------------------------------

    def decide(self, name: str, line: str, reviewer: str, choice: Choice) -> Outcome:
        """One reviewer's decision on one line, made only against the entry as it is now."""
        found = self._line(name, line, reviewer)
        if choice is Choice.REDUCE and found.right != EDIT:
            raise ApprovalError(
                _("{name} has view already: there is nothing to reduce.").format(name=found.name)
            )
        self._still_shown(name, found, reviewer)
        return self._claim(name, found, reviewer, choice)

    def keep_all(self, name: str, entry: str, reviewer: str) -> list[Outcome]:
        """Keep every undecided line of one entry that still shows as the card showed it."""
        lines = [ln for ln in self.store.entry_lines(name, entry) if reviewer in ln.reviewers]
        if not lines:
            raise ApprovalError(_("You are not a reviewer of that entry in this campaign."))
        current = rights(self._read_as(name, reviewer, lines[0]))
        decided = self.store.decisions_of(name, [ln.id for ln in lines])
        outcomes = []
        for ln in lines:
            shown = current.get((ln.field, ln.name.casefold()))
            if ln.id in decided or shown is None or shown[1] != ln.right or self._own(ln, reviewer):
                continue
            outcomes.append(self._claim(name, ln, reviewer, Choice.KEEP))
        return outcomes

    def _line(self, name: str, line: str, reviewer: str) -> Line:
        found = self.store.line(name, line)
        if found is None:
            raise ApprovalError(_("That line is not part of this review."))
        if reviewer not in found.reviewers:
            raise ApprovalError(_("You are not a reviewer of that entry in this campaign."))
        if self._own(found, reviewer):
            raise ApprovalError(_("You cannot review your own access: another reviewer decides it."))
        return found

    def _own(self, line: Line, reviewer: str) -> bool:
        return same(line, self.engine.services.vault.mysafe_username(reviewer) or "")

    def _read_as(self, name: str, reviewer: str, line: Line) -> Entry:
        """The line's entry read with the reviewer's key; a key that no longer works is
        recorded (their lines go to the escalation target) before the error goes on up."""
        try:
            return self.engine.client_for(reviewer).read(line.kind, line.identifier)
        except BotError as error:
            if why := key_gone(error):
                self.lost_key(name, reviewer, why)
            raise

    def lost_key(self, name: str, reviewer: str, why: str) -> None:
        """A reviewer's key died mid-campaign: recorded once, and the worker is asked to send
        their undecided lines to the escalation target now (`Task.ESCALATE`)."""
        campaign = self.store.campaign(name)
        if campaign is None or campaign.state is not CampaignState.RUNNING:
            return
        if self.store.key_gone(name, reviewer, why, ttl=campaign.ttl):
            self.tasks.add(Task.ESCALATE, name, timestamp())

    def _still_shown(self, name: str, line: Line, reviewer: str) -> None:
        entry = self._read_as(name, reviewer, line)
        now = rights(entry).get((line.field, line.name.casefold()))
        if now is None or now[1] != line.right:
            if now is None:
                said = _(
                    "{name} no longer has access (the card showed {right}): the entry changed "
                    "since the review started, so nothing was decided."
                )
            else:
                said = _(
                    "{name} now has {now} (the card showed {right}): the entry changed since the "
                    "review started, so nothing was decided."
                )
            raise ApprovalError(
                said.format(name=line.name, now=_(now[1]) if now else "", right=_(line.right))
            )

    def _claim(self, name: str, line: Line, reviewer: str, choice: Choice) -> Outcome:
        decided = Decided(choice, reviewer, timestamp())
        claim = self.store.decide(name, line, decided, self.counted([line])[line.id])
        if claim.status == "closed":
            raise ApprovalError(
                _("The review {name} is not running any more; nothing was decided.").format(name=name)
            )
        if claim.earlier is not None:
            return Outcome(line, claim.earlier, new=False)
        if choice is not Choice.KEEP:
            decided = self.file_removal(name, line, reviewer, decided)
        self.engine.audit.record(
            "review.decided",
            actor=reviewer,
            campaign=name,
            line=line.id,
            decision=choice.value,
            request=decided.request,
        )
        return Outcome(line, decided, new=True)

    def file_removal(
        self,
        name: str,
        line: Line,
        reviewer: str,
        decided: Decided,
        *,
        why: str = "decided by a reviewer",
    ) -> Decided:
        """Remove or reduce: an ordinary change request, filed as the reviewer."""
        group = line.field == GROUPS
        if decided.choice is Choice.REDUCE:
            change = Change(
                Verb.REDUCE,
                line.kind,
                line.identifier,
                add_users=() if group else (UserShare(line.name, False),),
                add_groups=(GroupShare(line.name, False),) if group else (),
            )
        else:
            change = Change(
                Verb.UNSHARE,
                line.kind,
                line.identifier,
                remove_users=() if group else (line.name,),
                remove_groups=(line.name,) if group else (),
            )
        self.store.expect(name, line.id)
        try:
            request = self.engine.submit(
                change,
                requester=reviewer,
                reason=f"access review {name}: {why}",
                source=SOURCE,
                idempotency_key=f"review:{name}:{line.id}",
            )
        except BotError:
            self.store.undo(name, line, decided, self.counted([line])[line.id])  # open again
            raise
        self.store.outcome(name, line.id, request.id)
        return self.store.decisions_of(name, [line.id]).get(line.id, decided)

    # --- outcomes of removals (an engine listener) --------------------------------------------

    def changed(self, request: ChangeRequest, event: Event) -> None:
        change = request.change
        if change.verb is Verb.CREATE and event == "applied":
            self.creators.record(change.kind, request.result.get("identifier"), request.requester)
            return
        if request.source != SOURCE or event not in SETTLED or change.identifier is None:
            return
        for (field, _folded), item in named(change).items():
            key = line_id(change.kind, change.identifier, field, item.name)
            name = self.store.expected(key)
            line = self.store.line(name, key) if name else None
            if name is None or line is None:
                continue
            result = self._read_back(line, request) if event == "applied" else event
            self.store.outcome(name, key, request.id, result)

    def _read_back(self, line: Line, request: ChangeRequest) -> str:
        try:
            entry = self.engine.client_for(request.requester).read(line.kind, line.identifier)
        except BotError as error:
            return f"not verified: {error}"
        now = rights(entry).get((line.field, line.name.casefold()))
        if request.change.verb is Verb.REDUCE:
            return "reduced" if now is not None and now[1] == VIEW else f"drift: {_said(now)}"
        return "removed" if now is None else f"drift: still {now[1]}"

    def waiting_for(self, reviewer: str) -> list[Waiting]:
        """Each running campaign with lines `reviewer` may decide and nobody has yet (from
        each campaign's index: a few reads per campaign, whatever its size)."""
        found = []
        for name in self.store.names():
            campaign = self.store.campaign(name)
            if campaign is None or campaign.state is not CampaignState.RUNNING:
                continue
            lines, entries = self.store.waiting(name, reviewer)
            if lines > 0:
                found.append(Waiting(campaign, lines, entries))
        return sorted(found, key=lambda w: w.campaign.due)

    def measure(self) -> None:
        """Each running campaign's progress, for /metrics (set on each scrape)."""
        metrics.REVIEW_LINES.clear()
        for name in self.store.names():
            campaign = self.store.campaign(name)
            if campaign is None or campaign.state is not CampaignState.RUNNING:
                continue
            lines = self.store.redis.hlen(self.store.lines_key(name))
            chosen = Counter(d.choice.value for d in self.store.decisions(name).values())
            metrics.REVIEW_LINES.labels(name, "undecided").set(lines - sum(chosen.values()))
            for choice in Choice:
                metrics.REVIEW_LINES.labels(name, choice.value).set(chosen[choice.value])

    # --- status and report --------------------------------------------------------------------

    def status(self, name: str) -> dict[str, object]:
        campaign = self.store.campaign(name)
        if campaign is None:
            raise ApprovalError(f"There is no review named {name}.")
        report = self.report(name, record=False)
        return {"name": name, "state": campaign.state.value, "due": campaign.due, **report.totals}

    def report(self, name: str, *, record: bool = True, actor: str = "cli") -> Report:
        """Every line and its decision; with `record`, the digests go to the audit log."""
        campaign = self.store.campaign(name)
        if campaign is None:
            raise ApprovalError(f"There is no review named {name}.")
        decisions = self.store.decisions(name)
        rows = tuple(jsonable(ln, decisions.get(ln.id)) for ln in self.store.lines(name))
        gone = self.store.gone(name)
        escalated = max(campaign.escalated, self.store.escalated(name))  # older: the field only
        report = build(name, rows, gone, escalated)
        if record:
            self.engine.audit.record(
                "review.report",
                actor=actor,
                campaign=name,
                lines=report.totals["lines"],
                csv_sha256=report.sha256["csv"],
                json_sha256=report.sha256["json"],
            )
        return report


def _said(now: tuple[str, str] | None) -> str:
    return "no access" if now is None else f"still {now[1]}"
