"""Assemble the engine with the listeners this deployment has (the Slack notifier, callbacks)."""

from __future__ import annotations

from app.engine import Engine
from app.services import Services


def build_engine(services: Services) -> Engine:
    return Engine(services)
