"""Assemble the engine with the listeners this deployment has: Slack's notifier, and more later.

The web app and the worker both build their engine here, so a request that expires in the
worker updates its Slack message exactly as a click in the web app does.
"""

from __future__ import annotations

from slack_sdk import WebClient

from app.callbacks import TicketCallbacks
from app.engine import Engine
from app.notifier import SlackNotifier
from app.services import Services


def build_engine(services: Services, client: WebClient | None = None) -> Engine:
    engine = Engine(services)
    if services.settings.webhook_secret:
        engine.listeners.append(callbacks(services, engine))
    if services.settings.slack_bot_token:
        from app.slack_app import make_web_client

        client = client or make_web_client(services)
        engine.listeners.append(SlackNotifier(client, engine.store,
                                              channel=services.settings.approval_channel))
    return engine


def callbacks(services: Services, engine: Engine) -> TicketCallbacks:
    return TicketCallbacks(services.settings, services.redis, engine.audit)
