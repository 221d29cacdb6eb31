"""Assemble the engine with the listeners this deployment has: Slack's notifier, and more later.

The web app and the worker both build their engine here, so a request that expires in the
worker updates its Slack message exactly as a click in the web app does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_sdk import WebClient

from app.approvals.engine import Engine
from app.services import Services
from app.slack.notifier import SlackNotifier
from app.webhooks.callbacks import TicketCallbacks

if TYPE_CHECKING:
    from app.slack.home_tab import HomeTab


def build_engine(services: Services, client: WebClient | None = None) -> Engine:
    engine = Engine(services)
    if services.settings.webhook_secret:
        engine.listeners.append(callbacks(services, engine))
    if services.settings.slack_bot_token:
        from app.slack.front import make_web_client

        client = client or make_web_client(services)
        engine.listeners.append(SlackNotifier(client, engine.store,
                                              channel=services.settings.approval_channel))
        engine.listeners.append(home_tab(engine, client))
    return engine


def home_tab(engine: Engine, client: WebClient) -> HomeTab:
    from app.slack.approvers import Approvers
    from app.slack.home_tab import HomeTab

    return HomeTab(engine, client, Approvers(engine.settings, engine.services.redis, client))


def callbacks(services: Services, engine: Engine) -> TicketCallbacks:
    return TicketCallbacks(services.settings, services.redis, engine.audit)
