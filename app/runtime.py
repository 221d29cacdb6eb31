"""The one place a process's parts are assembled: `build_runtime(settings)` → a `Runtime`.

`mysafe-bot serve` (each gunicorn worker, through `create_app`), `mysafe-bot worker`, the MCP
runner and `doctor` all start here, so a request that expires in the worker updates its Slack
message exactly as a click in the web app does, and nothing is found later by a string key or
an `isinstance` scan: each part is a typed field. Tests build their own from their own
settings (`assemble` takes `Services` they already made).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import requests

from app.approvals.break_glass import Reviewer
from app.approvals.engine import Engine
from app.approvals.review_campaigns import Reviews
from app.approvals.revokes import Revoker
from app.audit.checkpointer import Checkpointer
from app.audit.checkpoints import Checkpoint
from app.audit.log import AuditLog
from app.audit.signing import signing_key
from app.audit.sinks import config as sink_config
from app.audit.sinks.base import public_name
from app.audit.sinks.position import Positions
from app.audit.sinks.runner import Lag, SinkRunner
from app.services import Services
from app.settings import Settings
from app.storage import RedisClient
from app.webhooks.callbacks import TicketCallbacks
from app.webhooks.signing import signed_headers

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from app.slack.front import SlackFront
    from app.slack.home_tab import HomeTab
    from app.slack.notifier import SlackNotifier


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
    front: SlackFront | None = None
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

    def close(self) -> None:
        self.services.close()


def build_runtime(
    settings: Settings,
    *,
    redis: RedisClient | None = None,
    session: requests.Session | None = None,
    front: bool = True,
) -> Runtime:
    return assemble(Services.build(settings, redis=redis, session=session), front=front)


def assemble(services: Services, *, front: bool = True) -> Runtime:
    """The engine with the listeners this deployment has, and (for a web process, `front`)
    the Slack front over it: the worker, the MCP runner and doctor answer no Slack request."""
    settings = services.settings
    engine = Engine(services)
    engine.listeners.append(engine.disabled)
    reviews = Reviews(engine)
    engine.listeners.append(reviews)
    revoker = Revoker(engine)
    reviewer = Reviewer(engine, revoker)
    callbacks = None
    if settings.webhook_secret:
        callbacks = TicketCallbacks(settings, services.redis, engine.audit)
        engine.listeners.append(callbacks)
    if not settings.slack_bot_token:
        return Runtime(
            settings,
            services,
            engine,
            callbacks=callbacks,
            revoker=revoker,
            reviews=reviews,
            checkpointer=checkpointer(services),
            sinks=sink_runners(services),
            reviewer=reviewer,
        )
    from app.slack.approvers import Approvers
    from app.slack.break_glass import BreakGlassNotices
    from app.slack.drift_notices import DriftNotices
    from app.slack.front import SlackFront, make_web_client
    from app.slack.home_tab import HomeTab
    from app.slack.languages import Languages
    from app.slack.notifier import SlackNotifier
    from app.slack.people import People
    from app.slack.revoke_notices import RevokeNotices

    client = make_web_client(services)
    approvers = Approvers(settings, services.redis, client, policy=engine.policy)
    people = People(services.redis, client, prefix=settings.key_prefix)
    engine.standing = people.standing
    engine.break_glass.email_of = people.email
    engine.break_glass.listeners.append(
        BreakGlassNotices(client, engine, channel=settings.approval_channel)
    )
    notifier = SlackNotifier(
        client,
        engine.store,
        channel=settings.approval_channel,
        approvers=approvers,
        gains_access=engine.gains_access,
        languages=Languages(people, default=settings.bot_locale),
    )
    home = HomeTab(engine, client, approvers, reviews=reviews)
    from app.slack.review_cards import ReviewCards

    review_cards = ReviewCards(
        client, reviews.store, languages=Languages(people, default=settings.bot_locale)
    )
    engine.listeners += [notifier, home, review_cards]
    revoker.listeners += [
        RevokeNotices(
            client,
            revoker.store,
            channel=settings.approval_channel,
            languages=Languages(people, default=settings.bot_locale),
        ),
        DriftNotices(
            client,
            channel=settings.approval_channel,
            audit_channel=settings.audit_channel,
            locale=settings.bot_locale,
        ),
        home.revoke_changed,
    ]
    slack_front = (
        SlackFront(
            services,
            engine,
            client,
            approvers=approvers,
            home=home,
            revoker=revoker,
            reviews=reviews,
            reviewer=reviewer,
        )
        if front
        else None
    )
    if slack_front is not None:  # the sweep's news of expiries goes out as the front's jobs
        engine.hand_off = slack_front.hand_off
    publish = alert = None
    if settings.audit_channel:
        from app.slack.audit_channel import CheckpointPoster, LagPoster

        publish = CheckpointPoster(client, channel=settings.audit_channel)
        alert = LagPoster(client, channel=settings.audit_channel, threshold=settings.audit_lag_alert)
    return Runtime(
        settings,
        services,
        engine,
        callbacks=callbacks,
        slack=client,
        notifier=notifier,
        home=home,
        front=slack_front,
        revoker=revoker,
        reviews=reviews,
        checkpointer=checkpointer(services, publish),
        sinks=sink_runners(services, alert),
        reviewer=reviewer,
    )


def checkpointer(
    services: Services, publish: Callable[[Checkpoint], None] | None = None
) -> Checkpointer:
    """The audit log's checkpointer; its key is read (or made, see app.audit.signing) at the
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
    positions = Positions(services.redis, prefix=settings.key_prefix)
    return tuple(
        SinkRunner(sink, log, positions, lag_alert=settings.audit_lag_alert, alert=alert)
        for sink in sinks
    )
