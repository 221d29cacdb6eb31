"""`/mysafe`: one listener (`mysafe.Commands`). Its ack answers help, bad input and the form
verbs itself, and stores every other command as a job (`Commands.work`) before it acks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.jobs.registry import Registry
from app.slack.listeners.commands.mysafe import COMMAND, JOB, Commands, Deps

if TYPE_CHECKING:
    from slack_bolt import App

__all__ = ["Deps", "register", "register_jobs"]


def register(bolt: App, deps: Deps) -> Commands:
    """Bolt's listener. Returns the handlers, whose `take` the route's fast ack calls."""
    commands = Commands(deps)
    bolt.command(COMMAND)(commands.ack)
    return commands


def register_jobs(registry: Registry, deps: Deps) -> None:
    deps.durable.on_job(registry, JOB, Commands(deps).work)
