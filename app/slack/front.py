"""The Slack front: a Bolt app mounted in Flask at `POST /slack/events`, and in Socket Mode.
Over HTTP, commands and durable clicks are acked without Bolt's dispatch (`app.slack.intake`)
by the same functions its listeners call. Deny and View change open a modal from the click's
`trigger_id`, which Slack accepts only within 3 s: they act in the ack, not as jobs.

Listeners are thin: the ack stores the work as a job in Redis (`app.jobs.queue`) and only then
answers Slack; a consumer (`app.jobs.consumer`, in every web process and in `mysafe-bot worker`)
runs it, and the answer goes back through `response_url`, a modal update or a DM. A process
that dies after the ack loses nothing: another consumer takes the job over. When Redis cannot
take the job, the ack says so and nothing is done. Bolt verifies every request's signature
and timestamp; a bad one is a 401 before any listener runs. Retried deliveries
(`X-Slack-Retry-Num` of 1 or more; Socket Mode's `retry_attempt`) are acknowledged and
dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from secrets import token_hex
from typing import Any

import redis
from flask import Blueprint, Flask, Response, request
from slack_bolt import App, BoltResponse
from slack_bolt.adapter.flask.handler import to_flask_response
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier
from werkzeug.datastructures import Headers

from app.approvals.break_glass import Reviewer
from app.approvals.engine import Decision, Engine
from app.approvals.review_campaigns import Reviews
from app.approvals.reviews import Choice
from app.approvals.revokes import Revoker
from app.approvals.store import Outcome
from app.errors import ApprovalError, BotError
from app.i18n import _
from app.jobs.consumer import Consumer, Handler, taken_over
from app.jobs.queue import JobQueue
from app.services import Services
from app.slack import blocks
from app.slack.approvers import Approvers
from app.slack.bolt_request import from_flask, read_body
from app.slack.break_glass import JUSTIFIED, NOT_JUSTIFIED
from app.slack.commands import UNAVAILABLE
from app.slack.home_tab import HomeTab
from app.slack.intake import fast_ack
from app.slack.languages import Languages
from app.slack.payloads import problem
from app.slack.replies import access_view, answer_errors
from app.slack.respond import Respond, Responder
from app.slack.review_cards import (
    REVIEW_KEEP,
    REVIEW_KEEP_ALL,
    REVIEW_REDUCE,
    REVIEW_REMOVE,
    ReviewCards,
)
from app.slack.revoke_notices import EXTEND, GIVE_UP, REVOKE_NOW
from app.slack.socket_mode import SocketMode
from app.slack.views import register_views
from app.slack.web_client import PooledWebClient
from commands import dispatch
from commands.context import Context
from commands.parser import parse
from commands.replies import AccessShown

log = logging.getLogger(__name__)


class _TokenInClient(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN itself and, given a client as well, warns on every start of
    every process that the token goes unused: the client is made from that very token, so the
    warning says nothing anyone could act on."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


_TOKEN_IN_CLIENT = _TokenInClient()

#: The work after an ack: the request's body, and its `response_url` answer (None without one).
Work = Callable[[dict[str, Any], Respond | None], None]
#: The job that tells Slack of the expiry sweep's expiries (one per batch, `hand_off`), and
#: whose it is for the consumers' fairness: at most MYSAFE_BOT_JOB_PER_PERSON of the sweep's
#: jobs run at once in the deployment, so people's commands pass them by.
TELL_EXPIRED = "tell_expired"
SWEEP = "sweep"


def make_web_client(services: Services) -> WebClient:
    """The Web API client: `SLACK_API_URL`, slack-sdk's own retry handlers, and connections
    kept open between calls (`app.slack.web_client`)."""
    return PooledWebClient(
        token=services.settings.slack_bot_token,
        base_url=services.settings.slack_api_url,
        timeout=10,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=2),
        ],
    )


class SlackFront:
    """Everything the listeners need, built once per process."""

    def __init__(
        self,
        services: Services,
        engine: Engine,
        client: WebClient,
        *,
        approvers: Approvers,
        home: HomeTab,
        revoker: Revoker | None = None,
        reviews: Reviews | None = None,
        reviewer: Reviewer | None = None,
    ) -> None:
        self.services = services
        self.engine = engine
        self.revoker = revoker
        self.reviews = reviews
        self.review_cards = (
            ReviewCards(client, reviews.store, languages=Languages.of(services, client))
            if reviews is not None
            else None
        )
        self.reviewer = reviewer
        self.client = client
        self.approvers = approvers
        self.home = home
        #: Started per web process by `create_app` when SLACK_APP_TOKEN is set.
        self.socket_mode: SocketMode | None = None
        self.jobs = JobQueue(services.redis, services.keyring, prefix=services.settings.key_prefix)
        self.responder = Responder()
        #: Whose language each answer speaks (the person's own; the workspace's by default).
        self.languages = Languages.of(services, client)
        #: What each kind of job does; a `Consumer` runs them (see `start_consumer`).
        self.handlers: dict[str, Handler] = {}
        #: The buttons whose click is a job: action_id -> job kind (see `take_click`).
        self.clicks: dict[str, str] = {}
        self.consumer: Consumer | None = None
        bolt_log = logging.getLogger("slack_bolt")
        bolt_log.addFilter(_TOKEN_IN_CLIENT)  # one filter however many fronts are built
        self.bolt = App(
            signing_secret=services.settings.slack_signing_secret or None,
            client=client,  # carries the token and SLACK_API_URL
            # Ack in the request's own thread: Bolt's default hands the ack to its pool and polls
            # for it every 10 ms (13 ms p50 for `help`, measured; 1.4 ms this way). The work
            # after the ack is a job (see `durable`); only Home tab refreshes, which a later
            # visit redoes, still run in Bolt's lazy listeners.
            process_before_response=True,
            listener_executor=ThreadPoolExecutor(max_workers=4, thread_name_prefix="slack-lazy"),
            token_verification_enabled=False,  # `mysafe-bot doctor` checks the token instead
            # `POST /slack/events` verifies the signature before Bolt reads a byte (see
            # register_slack); Socket Mode deliveries carry none. Verifying again here would
            # only spend the ack's time twice.
            request_verification_enabled=False,
            logger=bolt_log,
        )
        self.bolt.use(_drop_retries)
        self.bolt.error(self._on_error)
        from app.slack.commands import register_commands

        self.commands = register_commands(self)
        self._register_actions()
        self.on_job(TELL_EXPIRED, self._tell_expired)
        register_views(self)
        self.bolt.event("app_home_opened")(ack=_ack, lazy=[self._home_opened])
        self.bolt.event("subteam_members_changed")(self._group_changed)
        self.bolt.event("user_change")(self._person_changed)
        self.bolt.action(blocks.HOME_PAGE)(ack=_ack, lazy=[self._home_page])

    # --- buttons -------------------------------------------------------------------------

    def _register_actions(self) -> None:
        """Every click with work is a job stored before its ack. Deny and View change are not:
        each opens a modal with the click's `trigger_id`, which Slack accepts only within 3 s
        of the click, so they act in the ack itself (a crash before the modal opens leaves
        nothing half done: Deny's transition is one atomic step, View change changes nothing).
        """
        for action_id, kind, work in (
            (blocks.APPROVE, "approve", self._approve),
            (blocks.RETRY, "retry", self._retry),
            (blocks.CANCEL, "cancel", self._cancel),
            (blocks.NUDGE, "nudge", self._nudge),
            (GIVE_UP, "give_up", self._give_up),
            (REVOKE_NOW, "revoke_now", self._revoke_now),
            (EXTEND, "extend", self._extend),
            (blocks.REMOVE_PASSKEY, "passkey_remove", self._remove_passkey),
            (REVIEW_KEEP, "review_keep", self._review_decided),
            (REVIEW_REMOVE, "review_remove", self._review_decided),
            (REVIEW_REDUCE, "review_reduce", self._review_decided),
            (REVIEW_KEEP_ALL, "review_keep_all", self._review_decided),
            (JUSTIFIED, "justified", self._justified),
            (NOT_JUSTIFIED, "not_justified", self._not_justified),
        ):
            self.clicks[action_id] = kind
            self.bolt.action(action_id)(self.durable(kind, work))
        self.bolt.action(blocks.DENY)(self._deny_clicked)
        self.bolt.action(blocks.VIEW_CHANGE)(self._view_change_clicked)
        self.bolt.action(blocks.SHOW_ACCESS)(self._show_access_clicked)

    def _remove_passkey(self, body: dict[str, Any], respond: Respond | None) -> None:
        """From the App Home: the clicker's own passkey only (looked up under their ID)."""
        user, credential = body["user"]["id"], body["actions"][0]["value"]
        if self.engine.stepup.passkeys.remove(user, credential):
            self.engine.audit.record("passkey.removed", actor=user, credential=credential)
        self.publish_home(user)

    def _justified(self, body: dict[str, Any], respond: Respond | None) -> None:
        self._review(body, respond, justified=True)

    def _not_justified(self, body: dict[str, Any], respond: Respond | None) -> None:
        self._review(body, respond, justified=False)

    def _review(self, body: dict[str, Any], respond: Respond | None, *, justified: bool) -> None:
        """A break-glass review's verdict, by an approver of its rule (never the requester)."""
        user, request_id = body["user"]["id"], body["actions"][0]["value"]
        if self.reviewer is None:
            return
        with answer_errors(lambda text: self.tell(body, respond, text)):
            request = self.engine.get(request_id)
            approvers = request.approvers or self.services.settings.approvers
            review = self.reviewer.decide(
                request_id,
                user,
                justified=justified,
                is_approver=self.approvers.listed(user, approvers),
            )
            self.tell(
                body, respond, _("Recorded: {state}.").format(state=_(review.state.replace("_", " ")))
            )

    def _extend(self, body: dict[str, Any], respond: Respond | None) -> None:
        """Owner or grantee asks for a new period: a new request, approved like any share.
        The click's trigger_id keys it, so a job run again after a crash makes no second one."""
        user, request_id = body["user"]["id"], body["actions"][0]["value"]
        if self.revoker is None:
            return
        with answer_errors(lambda text: self.tell(body, respond, text)):
            request = self.revoker.extend(
                request_id, user, idempotency_key=f"slack:{body.get('trigger_id', '')}"
            )
            if not taken_over():  # a replay's notice was (or will be) given by its first run
                self.tell(
                    body,
                    respond,
                    blocks.waiting_notice(
                        request, self.services.settings.approval_channel, asked_by=user
                    ),
                )

    def _revoke_now(self, body: dict[str, Any], respond: Respond | None) -> None:
        """The owner ends a time-bound share at once (no approval needed to give access up)."""
        user, request_id = body["user"]["id"], body["actions"][0]["value"]
        if self.revoker is None:
            return
        status = self.revoker.revoke_now(request_id, user)
        if status == "not_owner":
            self.tell(body, respond, _("Only the owner who shared it can revoke it now."))
        elif status != "ok" and not taken_over():  # else the first run ended it already
            self.tell(
                body, respond, _("Nothing to revoke: that share is {status}.").format(status=_(status))
            )
        if body.get("container", {}).get("type") == "view":
            self.publish_home(user)

    def _give_up(self, body: dict[str, Any], respond: Respond | None) -> None:
        """An approver of the rule the share was approved under stops the retries of a revoke
        that keeps failing; an approver of another rule, or a grantee, may not."""
        user, request_id = body["user"]["id"], body["actions"][0]["value"]
        if self.revoker is None:
            return
        with answer_errors(lambda text: self.tell(body, respond, text)):
            is_approver = self.approvers.listed(user, self._share_approvers(request_id))
            status = self.revoker.give_up(request_id, user, is_approver=is_approver)
            if status == "not_approver":
                self.tell(
                    body,
                    respond,
                    _(
                        "Only approvers of the rule this share was approved under can give up on "
                        "removing it."
                    ),
                )
            elif status == "beneficiary":
                self.tell(
                    body,
                    respond,
                    _("You have this access through the share: you cannot give up removing it."),
                )
            elif status != "ok" and not taken_over():  # else the first run gave up already
                self.tell(
                    body,
                    respond,
                    _("Nothing to give up: that revoke is {status}.").format(status=_(status)),
                )

    def _share_approvers(self, request_id: str) -> frozenset[str]:
        """The approvers of the rule a time-bound share was approved under: kept on its revoke
        record (a failing end may outlive the request's own record), else on the request
        (records scheduled before they were kept there), else the settings' one rule."""
        assert self.revoker is not None
        revoke = self.revoker.store.get(request_id)
        if revoke is not None and revoke.approvers:
            return revoke.approvers
        request = self.engine.store.get(request_id)
        return (request.approvers if request else frozenset()) or self.services.settings.approvers

    # --- jobs ----------------------------------------------------------------------------

    def durable(self, kind: str, work: Work) -> Callable[..., None]:
        """Make `work` a job of `kind`; the ack listener returned stores it before acking."""
        self.on_job(kind, work)

        def store_then_ack(ack: Callable[..., Any], body: dict[str, Any]) -> None:
            # Over HTTP the route checked the shape already; Socket Mode comes straight here.
            why = problem(body)
            if why is not None:
                log.warning("malformed slack payload", extra={"event": "slack.malformed", "why": why})
            else:
                self.take_click(kind, body)
            ack()

        return store_then_ack

    def take_click(self, kind: str, body: dict[str, Any]) -> None:
        """A durable click's ack (empty): store its job; with Redis down, tell the person that
        nothing was done. The one place for it: Bolt's listener (Socket Mode) and the route's
        fast ack (`app.slack.intake`) both call it."""
        if not self.store(kind, body):
            with self.languages.to_person(_person(body), ask=False):
                self.tell(body, self.responder.to(body.get("response_url")), _(UNAVAILABLE))

    def on_job(self, kind: str, work: Work) -> None:
        """Every job speaks the language of the person whose click, form or command it is."""

        def run(body: dict[str, Any]) -> None:
            with self.languages.to_person(_person(body)):
                work(body, self.responder.to(body.get("response_url")))

        self.handlers[kind] = run

    def store(self, kind: str, body: dict[str, Any]) -> bool:
        """Put the job in Redis before the ack promises it; False when Redis cannot take it."""
        try:
            self.jobs.put(kind, body, who=_person(body))
        except redis.RedisError as error:
            log.warning(
                "job not stored",
                extra={"event": "jobs.not_stored", "kind": kind, "error": type(error).__name__},
            )
            return False
        return True

    def hand_off(self, request_ids: Sequence[str]) -> None:
        """The expiry sweep's news of these expiries, as one job: the sweep does not wait for
        Slack, and a consumer (in any web process or worker) tells it. Raises
        `redis.RedisError` when Redis cannot take it (the sweep then keeps them due)."""
        # `teller` names this hand-off: its job run again (taken over) takes its own claims
        # back, and a batch handed off again is a new job, not a repeat the queue refuses.
        self.jobs.put(TELL_EXPIRED, {"requests": list(request_ids), "teller": token_hex(8)}, who=SWEEP)

    def _tell_expired(self, body: dict[str, Any], respond: Respond | None) -> None:
        """Those of the job's expiries still untold, told (see `Engine.tell_expired`)."""
        self.engine.tell_expired(
            [str(r) for r in body["requests"]][:1000], teller=str(body.get("teller", ""))
        )

    def start_consumer(self) -> Consumer:
        """Run this front's jobs in this process, within the settings' bounds."""
        settings = self.services.settings
        self.consumer = Consumer(
            self.jobs,
            self.handlers,
            threads=settings.job_threads,
            per_person=settings.job_per_person,
            mysafe_concurrency=settings.mysafe_concurrency,
            visibility=settings.job_visibility,
            paused=self._out_of_date,
        ).start()
        return self.consumer

    def _out_of_date(self) -> bool:
        """A process whose rules are not the deployment's in force takes no job: processes in
        force run it, under the rules in force (app.approvals.in_force)."""
        return self.engine.in_force.not_in_force() is not None

    def stop_consumer(self) -> None:
        if self.consumer is not None:
            self.consumer.stop()
            self.consumer = None

    # --- decisions -------------------------------------------------------------------------

    def _approve(self, body: dict[str, Any], respond: Respond | None) -> None:
        def approve(request_id: str, user: str) -> Decision:
            decision = self.engine.approve(
                request_id, user, is_approver=self.eligible(request_id, user, "approve")
            )
            if decision.status is Outcome.STEP_UP:  # the click waits for the approver's passkey
                url = self.engine.step_up_link(decision.request, user)
                self.tell(body, respond, blocks.step_up_notice(decision.request, url))
            return decision

        self._decide(body, respond, approve)

    def _retry(self, body: dict[str, Any], respond: Respond | None) -> None:
        self._decide(
            body,
            respond,
            lambda rid, user: self.engine.retry(
                rid, user, is_approver=self.eligible(rid, user, "retry")
            ),
        )

    def eligible(self, request_id: str, user: str, action: str) -> bool:
        """Checked at the click, against the rule the request was made under: a guest, someone
        from another organisation, a deactivated account or a bot is refused (`Ineligible`,
        audited) whatever the rule lists."""
        request = self.engine.get(request_id)
        self.engine.refuse_ineligible(user, action=action, request_id=request_id)
        return self.approvers.may_decide(user, request)

    def _nudge(self, body: dict[str, Any], respond: Respond | None) -> None:
        """The requester reminds the approvers (at most once per the rule's remind_after).
        Run again after a crash, the reminder may go out twice, never not at all."""
        user, request_id = body["user"]["id"], body["actions"][0]["value"]
        with answer_errors(lambda text: self.tell(body, respond, text)):
            self.engine.nudge(request_id, user, again=taken_over())
            self.tell(body, respond, _("The approvers of {id} were reminded.").format(id=request_id))

    def _cancel(self, body: dict[str, Any], respond: Respond | None) -> None:
        self._decide(body, respond, self.engine.cancel)

    def _decide(
        self, body: dict[str, Any], respond: Respond | None, decide: Callable[[str, str], Any]
    ) -> None:
        user, request_id = body["user"]["id"], body["actions"][0]["value"]
        with answer_errors(lambda text: self.tell(body, respond, text)):
            decision = decide(request_id, user)
            if not decision.changed and not taken_over():  # a replay's effect is in already
                self.tell(body, respond, blocks.unchanged_notice(decision.request))
        if body.get("container", {}).get("type") == "view":
            self.publish_home(user)  # clicked in the Home tab: show it as it is now

    def _deny_clicked(
        self, ack: Callable[..., Any], body: dict[str, Any], respond: Callable[..., Any]
    ) -> None:
        """The click denies at once (atomically, like approve), so nobody can approve while the
        denier types; the modal it opens then only adds the reason."""
        ack()
        user, request_id = body["user"]["id"], body["actions"][0]["value"]
        with (
            self.languages.to_person(user, ask=False),
            answer_errors(lambda text: self.tell(body, respond, text)),
        ):
            decision = self.engine.deny(
                request_id, user, is_approver=self.eligible(request_id, user, "deny")
            )
            if not decision.changed:
                self.tell(body, respond, blocks.unchanged_notice(decision.request))
                return
            self.client.views_open(trigger_id=body["trigger_id"], view=blocks.deny_modal(request_id))

    def _view_change_clicked(
        self, ack: Callable[..., Any], body: dict[str, Any], respond: Callable[..., Any]
    ) -> None:
        """The whole change in a modal, for the people who decide on it (and its requester);
        opened at once, while the click's trigger_id is fresh."""
        ack()
        user, request_id = body["user"]["id"], body["actions"][0]["value"]
        with (
            self.languages.to_person(user, ask=False),
            answer_errors(lambda text: self.tell(body, respond, text)),
        ):
            request = self.engine.get(request_id)
            if user != request.requester and not self.approvers.may_decide(user, request):
                raise ApprovalError(
                    _("Only the approvers and the requester of this request can open the full change.")
                )
            self.client.views_open(trigger_id=body["trigger_id"], view=blocks.change_modal(request))

    def _review_decided(self, body: dict[str, Any], respond: Respond | None) -> None:
        """*Keep*, *Remove*, *Reduce to view* or *Keep all* on a review card: decided against
        the entry as it is now, then every reviewer's card of that entry is redrawn (it says who
        decided)."""
        user, action = body["user"]["id"], body["actions"][0]
        name, _space, target = str(action.get("value", "")).partition(" ")
        with answer_errors(lambda text: self.tell(body, respond, text)):
            if self.reviews is None or self.review_cards is None:
                raise ApprovalError(_("Reviews are not set up in this process."))
            campaign = self.reviews.store.campaign(name)
            if campaign is None:
                raise ApprovalError(_("There is no review named {name}.").format(name=name))
            if action["action_id"] == REVIEW_KEEP_ALL:
                self.reviews.keep_all(name, target, user)
                entry = target
            else:
                choice = _CHOICES[action["action_id"]]
                outcome = self.reviews.decide(name, target, user, choice)
                entry = outcome.line.entry
                if not outcome.new:
                    self.tell(
                        body,
                        respond,
                        _("{who} decided that line already ({choice}); yours was not counted.").format(
                            who=f"<@{outcome.decided.by}>", choice=_(outcome.decided.choice.value)
                        ),
                    )
            self.review_cards.redraw(campaign, entry)

    def _show_access_clicked(
        self, ack: Callable[..., Any], body: dict[str, Any], respond: Callable[..., Any]
    ) -> None:
        """*Show all* under `/mysafe access`: the entry read again with the clicker's own key
        (MySafe decides what they see, now), every user and group in a modal."""
        ack()
        user, value = body["user"]["id"], str(body["actions"][0].get("value", ""))
        with (
            self.languages.to_person(user, ask=False),
            answer_errors(lambda text: self.tell(body, respond, text)),
        ):
            command = parse(f"access {value.replace(':', ' ', 1)}")
            context = Context(
                user_id=user, engine=self.engine, services=self.services, approvers=self.approvers
            )
            reply = dispatch.run(context, command)
            if isinstance(reply, AccessShown):
                self.client.views_open(trigger_id=body["trigger_id"], view=access_view(reply))

    def tell(self, body: dict[str, Any], respond: Callable[..., Any] | None, text: str) -> None:
        """An ephemeral answer to the person who clicked; the channel message is untouched."""
        if respond is not None and body.get("response_url"):
            respond(text=text, response_type="ephemeral", replace_original=False)
        else:
            self.client.chat_postMessage(channel=body["user"]["id"], text=text)

    # --- App Home ------------------------------------------------------------------------

    def _person_changed(self, ack: Callable[..., Any], event: dict[str, Any]) -> None:
        """A person changed in Slack (their language, or their standing): forget what is kept
        of them, so the next answer reads them afresh."""
        ack()
        person = event.get("user")
        if isinstance(person, dict):
            self.languages.people.changed(person)

    def _group_changed(self, ack: Callable[..., Any], event: dict[str, Any]) -> None:
        """An approver group's members changed: drop the cached membership at once."""
        ack()
        self.approvers.forget(str(event.get("subteam_id", "")))

    def _home_opened(self, event: dict[str, Any]) -> None:
        if event.get("tab", "home") == "home":
            self.home.opened(event["user"])

    def publish_home(self, user: str, *, start: int = 0) -> None:
        self.home.publish(user, start=start)

    def _home_page(self, body: dict[str, Any]) -> None:
        """*More* / *Back to the newest* on the Home tab."""
        value = str(body["actions"][0].get("value", "0"))
        self.publish_home(body["user"]["id"], start=int(value) if value.isdigit() else 0)

    # --- errors --------------------------------------------------------------------------

    def _on_error(self, error: Exception, body: dict[str, Any]) -> BoltResponse | None:
        """Last resort for what a listener did not handle: log it whole, tell the user little."""
        if isinstance(error, BotError):
            log.warning(
                "unhandled bot error", extra={"event": "slack.error", "error": type(error).__name__}
            )
        else:
            log.error("listener failed", exc_info=error, extra={"event": "slack.error"})
        return None


#: A review card's button -> the decision it makes.
_CHOICES = {REVIEW_KEEP: Choice.KEEP, REVIEW_REMOVE: Choice.REMOVE, REVIEW_REDUCE: Choice.REDUCE}


def _ack(ack: Callable[..., Any]) -> None:
    ack()


def _person(body: dict[str, Any]) -> str:
    """Who asked: a command's `user_id`, an interaction's `user.id`."""
    return str(body.get("user_id") or body.get("user", {}).get("id", ""))


def _drop_retries(req: Any, resp: Any, next: Callable[[], Any]) -> Any:  # noqa: A002 - Bolt's own name
    """Slack re-sends what it thinks timed out; the first delivery is already being handled."""
    if _is_retry(req.headers.get("x-slack-retry-num")):
        return BoltResponse(status=200, body="")
    return next()


def _is_retry(retry_num: Sequence[str] | str | None) -> bool:
    """Whether `X-Slack-Retry-Num` marks a re-delivery: only a count of 1 or more does.

    Bolt keeps each header as a list. Over HTTP Slack sends the header only on retries, but
    Bolt's Socket Mode adapter turns every envelope's `retry_attempt` into it, so a first
    delivery arrives as "0". A value that is not a number is treated as a retry, as before.
    """
    values = [retry_num] if isinstance(retry_num, str) else list(retry_num or [])
    if not values or not values[0]:
        return False
    try:
        return int(values[0]) >= 1
    except ValueError:
        return True


def _signed(verifier: SignatureVerifier, raw: bytes, headers: Headers) -> bool:
    """Slack's signature over this body, checked in constant time; a timestamp that is not a
    number is unsigned too (slack-sdk raises on it: a 500 for anyone who sends one)."""
    try:
        return verifier.is_valid(
            raw, headers.get("X-Slack-Request-Timestamp"), headers.get("X-Slack-Signature")
        )
    except ValueError:
        return False


def register_slack(app: Flask, front: SlackFront) -> None:
    """Mount `POST /slack/events` — only with a signing secret: without one (Socket Mode only)
    nothing could prove a request came from Slack, so the route does not exist."""
    if not front.services.settings.slack_signing_secret:
        return
    bp = Blueprint("slack", __name__)
    verifier = SignatureVerifier(front.services.settings.slack_signing_secret)

    @bp.post("/slack/events")
    def events() -> Response:
        # What SlackRequestHandler.handle does for a POST, with a body that reads a form
        # mentioning "payload" correctly (see app.slack.bolt_request), and a shape check first:
        # Bolt itself fails with a 500 on some signed but malformed payloads. Commands and
        # durable clicks are then acked without Bolt (app.slack.intake); the rest go to Bolt.
        raw = request.get_data()
        if not _signed(verifier, raw, request.headers):
            return Response("", status=401)  # before reading anything of the body
        try:
            body = read_body(raw.decode("utf-8", "replace"), request.mimetype or None)
            why = problem(body)
        except Exception as error:  # noqa: BLE001 - a malformed body: one log line, a 400
            # Malformed input is not a bug of ours: no traceback, only what it was.
            log.warning(
                "unreadable slack payload",
                extra={"event": "slack.malformed", "why": "unreadable", "error": type(error).__name__},
            )
            return Response("", status=400)
        if why is not None:
            log.warning("malformed slack payload", extra={"event": "slack.malformed", "why": why})
            return Response("", status=400)
        if _is_retry(request.headers.get("X-Slack-Retry-Num")):
            return Response("", status=200)  # as _drop_retries does on Bolt's path
        fast = fast_ack(front, body)
        if fast is not None:
            return fast
        try:
            return to_flask_response(front.bolt.dispatch(from_flask(request)))
        except Exception as error:  # noqa: BLE001 - Bolt's own parsing: one log line, a 400
            log.warning(
                "slack payload bolt could not read",
                extra={"event": "slack.unreadable", "error": type(error).__name__},
            )
            return Response("", status=400)

    app.register_blueprint(bp)
