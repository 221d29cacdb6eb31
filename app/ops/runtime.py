"""The one place a process's parts are assembled: `build_runtime(settings)` → a `Runtime`.

`mysafe-bot serve` (each gunicorn worker, through `create_app`), `mysafe-bot worker`, the MCP
runner and `doctor` all start here, so a request that expires in the worker updates its Slack
message exactly as a click in the web app does, and nothing is found later by a string key or
an `isinstance` scan: each part is a typed field. Tests build their own from their own
settings (`assemble` takes `Services` they already made).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from app.approvals.audit import Audit
from app.approvals.break_glass import ReviewListener
from app.approvals.break_glass_reviewer import Reviewer
from app.approvals.decision import Listener
from app.approvals.engine import Engine
from app.approvals.policy import PolicyBook, load_policy
from app.approvals.review_campaigns import Reviews
from app.approvals.review_sweep import ReviewSweeper, schedules_in_force
from app.approvals.revoker import Revoker
from app.approvals.revokes import OnEveryRevoke
from app.approvals.rules import Defaults, Policy, default_policy
from app.approvals.telling import Hub
from app.audit.checkpointer import Checkpointer
from app.audit.checkpoints import Checkpoint
from app.audit.log import AuditLog
from app.audit.sinks import config as sink_config
from app.audit.sinks.position import Positions
from app.audit.sinks.runner import Lag, SinkRunner
from app.foundations.errors import ConfigError
from app.foundations.settings import Scope, Settings
from app.foundations.signing import signing_key
from app.foundations.sink_urls import public_name
from app.foundations.storage import RedisClient
from app.jobs.queue import JobQueue
from app.jobs.registry import Registry
from app.jobs.work import Jobs
from app.mysafe.transport import Transport
from app.ops import expiry_jobs
from app.services import Services
from app.webhooks.callbacks import TicketCallbacks
from app.webhooks.signing import signed_headers

if TYPE_CHECKING:
    from flask import Flask
    from slack_sdk import WebClient

    from app.slack import listeners
    from app.slack.home_tab import HomeTab
    from app.slack.languages import Languages
    from app.slack.notifier import SlackNotifier

T = TypeVar("T")


class Front(Protocol):
    """A chat front, in a process that answers it (`app.slack.front.SlackFront`)."""

    def mount(self, app: Flask, *, socket_mode: bool) -> None:
        """Its routes on the web app, and its own connection when it keeps one."""

    def not_ready(self) -> str | None:
        """What of it does not work in this process, for /readyz; None when all does."""


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    services: Services
    engine: Engine
    #: Present when the ticketing webhook is on (MYSAFE_BOT_WEBHOOK_SECRET).
    callbacks: TicketCallbacks | None = None
    #: Present when Slack is configured (SLACK_BOT_TOKEN).
    slack: WebClient | None = None
    notifier: SlackNotifier | None = None
    home: HomeTab | None = None
    #: Present where durable work is stored or run (Slack configured, and `jobs`): the queue,
    #: every producer's handlers, and the consumer when this process runs one.
    jobs: Jobs | None = None
    #: The Bolt app with its listeners: only in a process that answers Slack (`front`).
    front: Front | None = None
    #: Ends time-bound shares (the worker runs it; the Slack front's buttons call it).
    revoker: Revoker | None = None
    #: Access review campaigns (the CLI starts them; the front's cards decide them).
    reviews: Reviews | None = None
    #: Signs the audit log's checkpoints (the worker runs it).
    checkpointer: Checkpointer | None = None
    #: One runner per audit sink (MYSAFE_BOT_AUDIT_SINKS); the worker runs each in a thread.
    sinks: tuple[SinkRunner, ...] = ()
    #: Break-glass reviews: verdicts (the Slack front's buttons) and deadlines (the worker).
    reviewer: Reviewer | None = None
    #: Access reviews' schedules, start jobs, reminders and due dates (the worker runs it).
    review_sweeper: ReviewSweeper | None = None
    #: Whose language each Slack surface speaks: one per process, so every surface knows a
    #: person's language as soon as one has read it.
    languages: Languages | None = None

    def close(self) -> None:
        self.services.close()


def load_settings(
    environ: Mapping[str, str] | None = None,
    *,
    scope: Scope = Scope.SERVICE,
    dotenv: str | Path | None = ".env",
) -> Settings:
    """The settings, and the policy file they name read once at start-up: one `ConfigError`
    names every bad variable and the file's first problem together. The file is read again
    by the engine's `PolicyBook` (a good one is kept, see `load_policy`'s `keep_last_good`)."""
    settings, problems = Settings.parse(environ, scope=scope, dotenv=dotenv)
    try:
        read_policy(settings, strict=scope is Scope.SERVICE)
    except ConfigError as problem:
        problems.extend(problem.problems)
    if problems:
        raise ConfigError.of(problems)
    return settings


def read_policy(settings: Settings, *, strict: bool = True) -> Policy:
    """The rules in force at start-up: MYSAFE_BOT_POLICY's, or the settings' one rule.

    `strict` (a service) also refuses a rule no one could approve, and a rule asking for
    step-up when the bot has no public URL for the passkey page."""
    defaults = Defaults.of(settings)
    if settings.policy_path is None:
        return default_policy(defaults)
    policy = load_policy(settings.policy_path, defaults, strict=strict, keep_last_good=True)
    stepping = [rule.name for rule in policy.rules if rule.step_up]
    if stepping and strict and not settings.public_url:
        raise ConfigError(
            "MYSAFE_BOT_PUBLIC_URL",
            f"is required: policy rule “{stepping[0]}” asks for step-up with a passkey, "
            "confirmed on the bot's own page (e.g. https://mysafe-bot.example.com)",
        )
    return policy


def admin_runtime(scope: Scope = Scope.VAULT) -> Runtime:
    """What an operator's command (`mysafe-bot users`, `review`, `audit`, `access`…) works
    with: the settings its `scope` needs, from the environment, and every part but a chat
    front, assembled as every process assembles them."""
    return build_runtime(load_settings(scope=scope), front=False)


def build_runtime(
    settings: Settings,
    *,
    redis: RedisClient | None = None,
    transport: Transport | None = None,
    front: bool = True,
    jobs: bool = False,
) -> Runtime:
    return assemble(Services.build(settings, redis=redis, transport=transport), front=front, jobs=jobs)


def assemble(services: Services, *, front: bool = True, jobs: bool = False) -> Runtime:
    """The engine with the listeners this deployment has; with Slack configured, the durable
    work (for `jobs`, and for a `front`: the job queue with every producer's handlers, the
    sweep handing its news off as jobs) and, for a web process (`front`), the Slack front's
    Bolt app over it. `mysafe-bot worker` runs jobs and answers no Slack request (no Bolt);
    the MCP runner and doctor do neither."""
    settings = services.settings
    if not settings.slack_bot_token:
        return _without_slack(services)
    from app.slack.approvers import Approvers
    from app.slack.break_glass import BreakGlassNotices
    from app.slack.drift_notices import DriftNotices
    from app.slack.home_tab import HomeTab
    from app.slack.languages import Languages
    from app.slack.notifier import SlackNotifier
    from app.slack.people import People
    from app.slack.review_cards import ReviewCards
    from app.slack.revoke_notices import RevokeNotices
    from app.slack.sent_messages import SentMessages
    from app.slack.web_client import make_web_client

    client = make_web_client(services)
    people = People(services.redis, client, prefix=settings.key_prefix)
    languages = Languages(people, default=settings.bot_locale)
    queue = _queue(services) if front or jobs else None
    policy = _policy(services)
    approvers = Approvers(settings, services.redis, client, policy=policy)
    told: Hub[Listener] = Hub()
    heard: Hub[ReviewListener] = Hub()
    sent = SentMessages(services.redis, prefix=settings.key_prefix)
    engine = Engine(
        services,
        listeners=told,
        standing=people.standing,
        approvers=approvers,
        hand_off=expiry_jobs.hand_off(queue) if queue is not None else None,
        policy=policy,
        email_of=people.email,
        break_glass_listeners=heard,
        fronts=[sent],
    )
    reviews = Reviews(engine)
    callbacks = _callbacks(services, engine)
    heard.subscribe(BreakGlassNotices(client, engine, channel=settings.approval_channel))
    notifier = SlackNotifier(
        client,
        engine.store,
        sent,
        channel=settings.approval_channel,
        approvers=approvers,
        gains_access=engine.gains_access,
        languages=languages,
    )
    home = HomeTab(engine, client, approvers, languages=languages, reviews=reviews)
    review_cards = ReviewCards(
        client, reviews.store, channel=settings.approval_channel, languages=languages
    )
    told.subscribe(engine.disabled, reviews, *_present(callbacks), notifier, home, review_cards)
    revoker = engine.new_revoker(
        listeners=[
            RevokeNotices(client, sent, channel=settings.approval_channel, languages=languages),
            DriftNotices(
                client,
                sent,
                channel=settings.approval_channel,
                audit_channel=settings.audit_channel,
                locale=settings.bot_locale,
            ),
            OnEveryRevoke(home.revoke_changed),
            OnEveryRevoke(notifier.revoke_changed),
        ],
    )
    reviewer = Reviewer(engine, revoker)
    durable = slack_front = None
    if queue is not None:
        from app.slack import listeners

        durable = _jobs(services, engine, queue)
        deps = listeners.Deps.build(
            services,
            engine,
            client,
            approvers=approvers,
            home=home,
            jobs=durable,
            revoker=revoker,
            reviews=reviews,
            reviewer=reviewer,
            languages=languages,
            review_cards=review_cards,
        )
        listeners.register_jobs(durable.registry, deps)
        slack_front = _slack_front(services, deps) if front else None
    publish, alert = _audit_posters(settings, client)
    return Runtime(
        settings,
        services,
        engine,
        callbacks=callbacks,
        slack=client,
        notifier=notifier,
        home=home,
        jobs=durable,
        front=slack_front,
        revoker=revoker,
        reviews=reviews,
        checkpointer=checkpointer(services, publish),
        sinks=sink_runners(services, alert),
        reviewer=reviewer,
        languages=languages,
        review_sweeper=ReviewSweeper(reviews, review_cards, schedules=schedules_in_force(engine)),
    )


def _slack_front(services: Services, deps: listeners.Deps) -> Front:
    """The Bolt app and its listeners: imported only here, so a process without a front
    never imports Bolt."""
    from app.slack.front import SlackFront

    return SlackFront(services, deps)


def _audit_posters(
    settings: Settings, client: WebClient
) -> tuple[Callable[[Checkpoint], None] | None, Callable[[str, Lag], None] | None]:
    """What posts the audit log's checkpoints and sink lag alerts, with MYSAFE_BOT_AUDIT_CHANNEL."""
    if not settings.audit_channel:
        return None, None
    from app.slack.audit_channel import CheckpointPoster, LagPoster

    return (
        CheckpointPoster(client, channel=settings.audit_channel),
        LagPoster(client, channel=settings.audit_channel, threshold=settings.audit_lag_alert),
    )


def _without_slack(services: Services) -> Runtime:
    """The engine and its listeners when no chat front is configured."""
    told: Hub[Listener] = Hub()
    engine = Engine(services, listeners=told)
    reviews = Reviews(engine)
    callbacks = _callbacks(services, engine)
    told.subscribe(engine.disabled, reviews, *_present(callbacks))
    revoker = engine.new_revoker()
    return Runtime(
        services.settings,
        services,
        engine,
        callbacks=callbacks,
        revoker=revoker,
        reviews=reviews,
        checkpointer=checkpointer(services),
        sinks=sink_runners(services),
        reviewer=Reviewer(engine, revoker),
        review_sweeper=ReviewSweeper(reviews, None, schedules=schedules_in_force(engine)),
    )


def _callbacks(services: Services, engine: Engine) -> TicketCallbacks | None:
    """The ticket callbacks (a listener of the engine) when the ticketing webhook is on."""
    if not services.settings.webhook_secret:
        return None
    return TicketCallbacks(services.settings, services.redis, engine.audit)


def _present(*parts: T | None) -> tuple[T, ...]:
    """Those of `parts` this deployment has."""
    return tuple(part for part in parts if part is not None)


def _policy(services: Services) -> PolicyBook:
    """The rules in force, read once: the engine decides by them and the Slack front's
    approvers list who they name (built before the engine, which is given both)."""
    settings = services.settings
    return PolicyBook(settings, audit=Audit(services.redis, prefix=settings.key_prefix))


def _queue(services: Services) -> JobQueue:
    return JobQueue(services.redis, services.keyring, prefix=services.settings.key_prefix)


def _jobs(services: Services, engine: Engine, queue: JobQueue) -> Jobs:
    """The durable work over `queue`, with the expiry sweep's handler; its consumer takes no
    job while this process's rules are not the deployment's in force (app.approvals.in_force):
    processes in force run it, under the rules in force."""
    settings = services.settings
    registry = Registry()
    expiry_jobs.register(registry, engine)
    return Jobs(
        queue,
        registry,
        threads=settings.job_threads,
        per_person=settings.job_per_person,
        mysafe_concurrency=settings.mysafe_concurrency,
        visibility=settings.job_visibility,
        paused=lambda: engine.in_force.not_in_force() is not None,
    )


def checkpointer(
    services: Services, publish: Callable[[Checkpoint], None] | None = None
) -> Checkpointer:
    """The audit log's checkpointer; its key is read (or made, see app.foundations.signing) at the
    first checkpoint, so processes that never sign never touch the key file."""
    settings = services.settings
    key = functools.cache(lambda: signing_key(settings.audit_signing_key, settings.data_dir))
    return Checkpointer(
        services.redis,
        prefix=settings.key_prefix,
        key=key,
        every=settings.audit_checkpoint,
        retention=settings.audit_retention,
        maxlen=settings.audit_maxlen,
        publish=publish,
        sinks=tuple(public_name(url) for url in settings.audit_sinks),
    )


def sink_runners(
    services: Services, alert: Callable[[str, Lag], None] | None = None
) -> tuple[SinkRunner, ...]:
    """A runner for each configured audit sink (each connects only when it first sends)."""
    settings = services.settings
    secret = settings.audit_webhook_secret
    sinks = sink_config.build(
        settings.audit_sinks,
        hec_token=settings.audit_hec_token,
        webhook_sign=lambda body: signed_headers(secret, body),
    )
    log = AuditLog(services.redis, prefix=settings.key_prefix)
    positions = Positions(services.redis, prefix=settings.key_prefix, lease=settings.audit_sink_lease)
    return tuple(
        SinkRunner(sink, log, positions, lag_alert=settings.audit_lag_alert, alert=alert)
        for sink in sinks
    )
