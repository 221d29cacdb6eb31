"""The approval engine: submit, decide, apply, expire — the one place change requests move.

Slack, the webhook and the MCP front call these methods and know nothing of Redis. Each
decision is one atomic transition in `ApprovalStore`; the engine adds what needs MySafe
(reading the entry at submission, computing and sending the body at apply time), the audit
trail, and `listeners` — callbacks the Slack side uses to update its message and tell people.
The engine builds the parts and is the one door to them: submission is `Submitter`'s
(app.approvals.submitting), the clicks `Decider`'s (app.approvals.deciding), the apply
`Applier`'s (app.approvals.applying), the worker's passes `Sweeper`'s (app.approvals.sweeping)
and the ends of time-bound shares `Revoker`'s (app.approvals.revoker), behind thin methods
here; it keeps the plumbing they share (the audited transition, settling, telling).

Rules enforced here and in the store's script: only approvers decide; the requester never
approves, denies or retries their own request and alone may cancel it; one person counts once;
exactly one caller wins `approved -> applying` and makes the MySafe call.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Mapping, Sequence
from secrets import token_hex
from typing import Any

from app.accounts.passkeys import Passkeys
from app.approvals.access import AccessBook
from app.approvals.applying import Applier
from app.approvals.approvers import Approvers, Named, Standing
from app.approvals.audit import Audit
from app.approvals.break_glass import BreakGlass, EmailOf, ReviewListener
from app.approvals.change_request import ChangeRequest
from app.approvals.changes import Change
from app.approvals.deciding import Decider
from app.approvals.decision import Decision, Event, HandOff, Listener, Steps
from app.approvals.disabled import DisabledEntries
from app.approvals.entry_locks import EntryLocks
from app.approvals.fronts import Shows
from app.approvals.given import GivenBook
from app.approvals.identities import Identities, Person, beneficiaries
from app.approvals.in_force import RulesInForce
from app.approvals.machine import Action, Transition
from app.approvals.open_scan import OpenScan
from app.approvals.outbox import Outbox
from app.approvals.policy import PolicyBook
from app.approvals.reminders import Reminders
from app.approvals.revoker import Revoker
from app.approvals.revokes import Revoke, RevokeListener, RevokeStore
from app.approvals.rules import Rule, Subject
from app.approvals.stepup import StepUp
from app.approvals.store import ApprovalStore
from app.approvals.submitting import Submitter
from app.approvals.sweeping import Sweeper
from app.approvals.telling import tell
from app.foundations import metrics
from app.foundations.clock import timestamp
from app.foundations.errors import Ineligible, RequestNotFound
from app.mysafe.client import UserClient
from app.mysafe.models import Entry
from app.services import Services


class Engine:
    """Its parts are its constructor's: the fronts' ports (`listeners`, a `Hub` the assembly
    fills; `standing`, `approvers`, `email_of`, `fronts`: app.approvals.approvers, .fronts),
    durable work's `hand_off`, the `policy` in force, the `break_glass_listeners`."""

    def __init__(
        self,
        services: Services,
        *,
        listeners: Collection[Listener] = (),
        standing: Standing | None = None,
        approvers: Approvers | None = None,
        hand_off: HandOff | None = None,
        policy: PolicyBook | None = None,
        email_of: EmailOf | None = None,
        break_glass_listeners: Collection[ReviewListener] = (),
        fronts: Collection[Shows] = (),
    ) -> None:
        self.services = services
        self.settings = services.settings
        self.store = ApprovalStore(services.redis, prefix=self.settings.key_prefix)
        self.locks = EntryLocks(services.redis, prefix=self.settings.key_prefix)
        self.audit = Audit(services.redis, prefix=self.settings.key_prefix)
        self.outbox = Outbox(services.redis, prefix=self.settings.key_prefix, audit=self.audit)
        self.listeners = listeners
        #: Whether a person is among a rule's approvers (without a chat front: named ones only).
        self.approvers: Approvers = approvers if approvers is not None else Named()
        self.revokes = RevokeStore(services.redis, prefix=self.settings.key_prefix)
        self.access = AccessBook(
            services.redis, prefix=self.settings.key_prefix, longest=self.settings.max_share_duration
        )
        #: Which applied request gave each principal their access (`/mysafe access`).
        self.given = GivenBook(services.redis, prefix=self.settings.key_prefix)
        self.policy = policy if policy is not None else PolicyBook(self.settings, audit=self.audit)
        #: Who a person is to the checks: Slack ID, MySafe names (app.approvals.identities).
        self.identities = Identities(services.vault)
        #: Step-up with a passkey (a rule's `step_up`): links, challenges, verification.
        self.stepup = StepUp(
            services.redis,
            prefix=self.settings.key_prefix,
            public_url=self.settings.public_url,
            passkeys=Passkeys(services.redis, prefix=self.settings.key_prefix),
        )
        #: Whether this process's rules are the deployment's in force: else it decides nothing.
        self.in_force = RulesInForce(services.redis, prefix=self.settings.key_prefix, book=self.policy)
        self.reminders = Reminders(services.redis, prefix=self.settings.key_prefix)
        self.break_glass = BreakGlass(
            services.redis,
            prefix=self.settings.key_prefix,
            per_day=self.settings.break_glass_per_day,
            on_call=services.on_call.on_call if services.on_call is not None else None,
            people=dict(self.settings.on_call_people),
            email_of=email_of,
            listeners=break_glass_listeners,
        )
        #: Entries disabled through the bot; the assembly makes it a listener (app.ops.runtime).
        self.disabled = DisabledEntries(services.redis, prefix=self.settings.key_prefix)
        #: Given by the assembly when a chat front can say who someone is (app.ops.runtime).
        self.standing = standing
        #: The engine's own steps, as its parts call them back.
        steps = Steps(
            get=self.get,
            audited=self._audited,
            settle=self._settle,
            tell=self._tell,
            new_lease=self._new_lease,
            apply=self.apply,
        )
        self.applier = Applier(
            steps=steps,
            store=self.store,
            locks=self.locks,
            access=self.access,
            given=self.given,
            revokes=self.revokes,
            in_force=self.in_force,
            vault=services.vault,
            keyring=services.keyring,
            client_for=self.client_for,
        )
        #: The worker's passes: expiries, take-overs, reminders (app.approvals.sweeping).
        self.sweeper = Sweeper(
            steps=steps,
            redis=services.redis,
            store=self.store,
            audit=self.audit,
            outbox=self.outbox,
            reminders=self.reminders,
            in_force=self.in_force,
            listeners=self.listeners,
            hand_off=hand_off,
            fronts=fronts,
        )
        #: The clicks that move a request, and the requester's nudge (app.approvals.deciding).
        self.decider = Decider(
            steps=steps,
            redis=services.redis,
            store=self.store,
            audit=self.audit,
            identities=self.identities,
            in_force=self.in_force,
            stepup=self.stepup,
            may_decide=self.may_decide,
        )
        #: Submission: validate, read as the requester, store (app.approvals.submitting).
        self.submitter = Submitter(
            steps=steps,
            settings=self.settings,
            store=self.store,
            audit=self.audit,
            access=self.access,
            disabled=self.disabled,
            identities=self.identities,
            in_force=self.in_force,
            reminders=self.reminders,
            break_glass=self.break_glass,
            keyring=services.keyring,
            client_for=self.client_for,
            rule_for=self.rule_for,
            refuse_ineligible=self.refuse_ineligible,
            find=self.find,
        )

    # --- submit: app.approvals.submitting ------------------------------------------------------

    def submit(self, change: Change, **options: Any) -> ChangeRequest:
        """`submit_once`, for callers that do not care whether the request is new."""
        return self.submit_once(change, **options)[0]

    def submit_once(self, change: Change, **options: Any) -> tuple[ChangeRequest, bool]:
        """`Submitter.submit_once`: store the request (False: an earlier one, same key)."""
        return self.submitter.submit_once(change, **options)

    def rule_for(
        self, change: Change, current: Entry | None, *, requester: Person, source: str
    ) -> Rule:
        """The policy rule this change meets (the first that matches, see app.approvals.rules)."""
        return self.policy.current.choose(
            self.subject(change, current, requester=requester, source=source)
        ).rule

    def subject(
        self, change: Change, current: Entry | None, *, requester: Person, source: str
    ) -> Subject:
        """What rules match on: the entry's tags as MySafe holds them (a create's own), the
        verb, kind and front, and who asks (Slack ID and trusted MySafe username: a claimed
        one never matches a rule)."""
        tags = current.tags if current is not None else change.fields.get("tags", "")
        name = requester.confirmed
        return Subject(
            verb=change.verb.value,
            kind=change.kind.value,
            source=source,
            tags=frozenset(t.strip().casefold() for t in tags.split(",") if t.strip()),
            requester=frozenset(filter(None, (requester.slack_id, name and name.casefold()))),
        )

    def refuse_ineligible(self, slack_id: str, *, action: str, request_id: str = "") -> None:
        """Guests, other organisations, deactivated accounts and bots neither request nor
        decide: `Ineligible` (audited), before anything is stored or counted."""
        why = self.standing(slack_id) if self.standing is not None else None
        if why is None:
            return
        self.audit.record(
            "click.refused" if request_id else "request.refused",
            request=request_id,
            actor=slack_id,
            action=action,
            why=why,
        )
        raise Ineligible(why)

    def find(self, key: str) -> ChangeRequest | None:
        """The request made earlier under this idempotency key, if any (a duplicate arriving
        while the first delivery is being stored waits for it)."""
        request_id = self.store.lookup(key)
        return self.store.get(request_id) if request_id else None

    # --- decisions: app.approvals.deciding -----------------------------------------------------

    def may_decide(self, request_id: str, actor: str, action: Action) -> bool:
        """Whether `actor` is among the approvers of the request's rule (else the settings');
        `Ineligible` (audited) for a guest, a bot…, whatever the rule lists. False for a request
        that is not there: the click's script then says so."""
        request = self.store.get(request_id)
        if request is None:
            return False
        self.refuse_ineligible(actor, action=action.value, request_id=request_id)
        return self.approvers.listed(actor, request.approvers or self.settings.approvers)

    def approve(self, request_id: str, actor: str) -> Decision:
        """`Decider.approve`: count one approval; the last one applies the change."""
        return self.decider.approve(request_id, actor)

    def confirm(
        self,
        request_id: str,
        actor: str,
        *,
        clicked: str,
        credential: str,
        method: str = "passkey",
    ) -> Decision:
        """`Decider.confirm`: count a click whose step-up the caller has verified."""
        return self.decider.confirm(
            request_id,
            actor,
            clicked=clicked,
            credential=credential,
            method=method,
        )

    def step_up_link(self, request: ChangeRequest, actor: str) -> str:
        """`Decider.step_up_link`: where `actor` confirms their waiting click."""
        return self.decider.step_up_link(request, actor)

    def deny(self, request_id: str, actor: str, *, reason: str = "") -> Decision:
        """`Decider.deny`: settle the request as denied at once."""
        return self.decider.deny(request_id, actor, reason=reason)

    def explain(self, request_id: str, actor: str, reason: str) -> Decision:
        """`Decider.explain`: the denier's reason, added after their click."""
        return self.decider.explain(request_id, actor, reason)

    def nudge(self, request_id: str, actor: str, *, again: bool = False) -> ChangeRequest:
        """`Decider.nudge`: the requester reminds the approvers now (at most once a while)."""
        return self.decider.nudge(request_id, actor, again=again)

    def cancel(self, request_id: str, actor: str) -> Decision:
        """`Decider.cancel`: the requester withdraws their request."""
        return self.decider.cancel(request_id, actor)

    def retry(self, request_id: str, actor: str) -> Decision:
        """`Decider.retry`: `failed -> applying` once per click."""
        return self.decider.retry(request_id, actor)

    def gains_access(self, request: ChangeRequest, slack_id: str) -> bool:
        """Whether `request` gives `slack_id` access, as any of their identities: such a person
        may never approve it, so nobody asks them to."""
        names, _ = self.identities.of(slack_id)
        return bool(set(names) & set(beneficiaries(request.change, request.notify)))

    def _audited(
        self,
        request_id: str,
        action: Action,
        *,
        actor: str,
        now: float,
        event: str = "",
        facts: Mapping[str, object] | None = None,
        **arg: Any,
    ) -> Transition:
        """A transition whose record its own script writes to the request's outbox (named
        `event`, or as the script names the transition), so no kill can separate the two.
        The outbox's mark goes in the transition's round trip, the record into the log in one
        more (`Outbox.append`); a worker appends it if this process dies first."""
        audit = self.audit.fields(event, request=request_id, actor=actor, **(facts or {}))
        result = self.store.transition(
            request_id,
            action,
            actor=actor,
            now=now,
            audit=audit,
            before=lambda pipe: self.outbox.mark(request_id, pipe=pipe),
            **arg,
        )
        self.outbox.append(result.written)
        return result

    # --- apply and worker: app.approvals.applying, app.approvals.sweeping ------------------

    def _new_lease(self, now: float | None = None) -> dict[str, Any]:
        return {
            "lease": token_hex(8),
            "lease_until": (timestamp() if now is None else now) + self.settings.apply_lease,
        }

    def apply(self, request_id: str, lease: str, *, request: ChangeRequest | None = None) -> Decision:
        """`Applier.apply`: the MySafe call of a request this caller holds the lease on."""
        return self.applier.apply(request_id, lease, request=request)

    def sweep(
        self,
        *,
        now: float | None = None,
        limit: int = 500,
        stopping: Callable[[], bool] = lambda: False,
    ) -> int:
        """`Sweeper.sweep`: expire what is due and take over stuck applies."""
        return self.sweeper.sweep(now=now, limit=limit, stopping=stopping)

    def tell_expired(
        self, request_ids: Sequence[str], *, teller: str = "", now: float | None = None
    ) -> int:
        """`Sweeper.tell_expired`: tell the listeners of expiries whose news is still owed."""
        return self.sweeper.tell_expired(request_ids, teller=teller, now=now)

    def send_nudges(
        self, now: float | None = None, *, stopping: Callable[[], bool] = lambda: False
    ) -> int:
        """`Sweeper.send_nudges`: the reminders and escalations that are due, each once."""
        return self.sweeper.send_nudges(now, stopping=stopping)

    def rescue(self, now: float | None = None, *, ids: Sequence[str] | None = None) -> OpenScan:
        """`Sweeper.rescue`: stuck applies indexed, and what the fronts have not shown."""
        return self.sweeper.rescue(now, ids=ids)

    def measure(self, now: float | None = None) -> None:
        """`Sweeper.measure`: pending count and sweep lag for the dashboard."""
        self.sweeper.measure(now)

    @property
    def hand_off(self) -> HandOff | None:
        """Durable work telling the sweep's expiries (None: the sweep tells them itself)."""
        return self.sweeper.hand_off

    def new_revoker(
        self,
        *,
        listeners: list[RevokeListener] | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> Revoker:
        """The worker's revokes (app.approvals.revoker), over this engine's parts."""
        return Revoker(
            settings=self.settings,
            store=self.revokes,
            requests=self.store,
            access=self.access,
            locks=self.locks,
            audit=self.audit,
            keyring=self.services.keyring,
            vault=self.services.vault,
            client_for=self.client_for,
            get=self.get,
            submit=self.submit,
            approvers=self.approvers,
            listeners=listeners,
            jitter=jitter,
        )

    # --- queries -----------------------------------------------------------------------------

    def get(self, request_id: str) -> ChangeRequest:
        request = self.store.get(request_id)
        if request is None:
            raise RequestNotFound(f"There is no change request {request_id}.")
        return request

    def open_for(self, requester: str) -> list[ChangeRequest]:
        return self.store.open_requests(requester=requester)

    def time_bound_for(self, slack_id: str) -> list[Revoke]:
        """`slack_id`'s time-bound shares still running, as owner or grantee."""
        return self.revokes.active_for(slack_id)

    def queue(self) -> list[ChangeRequest]:
        return self.store.open_requests()

    def waiting_for(
        self,
        approver: str,
        *,
        start: int = 0,
        count: int = 20,
        may_decide: Callable[[frozenset[str]], bool] | None = None,
    ) -> tuple[list[ChangeRequest], int]:
        """`count` of the requests `approver` can act on from `start`, newest first, and how
        many there are in all (see `ApprovalStore.waiting_for`; `may_decide` says whether
        they are among a rule's approvers, an empty set meaning the settings')."""
        names, identities = self.identities.of(approver)
        ids = self.store.waiting_for(approver, names, ids=identities, may_decide=may_decide)
        chosen = ids[start : start + count]
        found = [self.store.get(i) for i in chosen]
        return [r for r in found if r is not None], len(ids)

    def client_for(self, slack_id: str) -> UserClient:
        credentials = self.services.vault.credentials(slack_id)
        return self.services.mysafe.session_for(slack_id, credentials)

    # --- plumbing ----------------------------------------------------------------------------

    def _settle(self, request: ChangeRequest, *, pipe: Any = None) -> None:
        """A final request leaves the indexes and the reminders (in `pipe` when given)."""
        if request.state.final:
            self.store.unindex(request.id, request.requester, pipe=pipe)
            self.reminders.forget(request.id, pipe=pipe)
            metrics.APPROVAL_LATENCY.labels(outcome=request.state.value).observe(
                max(0.0, timestamp() - request.created)
            )

    def _tell(self, request: ChangeRequest, event: Event) -> bool:
        """`tell` every listener (app.approvals.telling); True when none failed."""
        return tell(self.listeners, request, event)
