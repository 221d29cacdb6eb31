"""The Slack front's listeners, laid out as Slack's bolt-python starter template lays them out:
one package per kind (`commands`, `actions`, `views`, `events`), each with its own small frozen
`Deps` and a `register(bolt, deps)`; the listeners are plain functions of their arguments.

The work a listener stores as a job is registered apart (`register_jobs`), into the process's
job registry (`app.jobs.registry`): `mysafe-bot worker` runs the Slack front's jobs without
building Bolt, and only a process that answers Slack calls `register` (`app.slack.front`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from slack_sdk import WebClient

from app.approvals.break_glass_reviewer import Reviewer
from app.approvals.engine import Engine
from app.approvals.review_campaigns import Reviews
from app.approvals.revoker import Revoker
from app.jobs.registry import Registry
from app.jobs.work import Jobs
from app.services import Services
from app.slack.approvers import Approvers
from app.slack.home_tab import HomeTab
from app.slack.languages import Languages
from app.slack.listeners import actions, commands, events, views
from app.slack.listeners.commands.mysafe import Commands
from app.slack.listeners.durable import Durable
from app.slack.respond import Responder
from app.slack.review_cards import ReviewCards

if TYPE_CHECKING:
    from slack_bolt import App


@dataclass(frozen=True)
class Deps:
    """Each kind's dependencies."""

    commands: commands.Deps
    actions: actions.Deps
    views: views.Deps
    events: events.Deps

    @classmethod
    def build(
        cls,
        services: Services,
        engine: Engine,
        client: WebClient,
        *,
        approvers: Approvers,
        home: HomeTab,
        jobs: Jobs,
        revoker: Revoker | None = None,
        reviews: Reviews | None = None,
        reviewer: Reviewer | None = None,
        languages: Languages,
        review_cards: ReviewCards | None = None,
    ) -> Deps:
        """`languages` and `review_cards` are the process's own (app.ops.runtime), so what one
        listener learns of a person (their language) every other one speaks at once."""
        durable = Durable(jobs, Responder(), client, languages)
        return cls(
            commands=commands.Deps(services, engine, approvers, client, durable),
            actions=actions.Deps(
                services,
                engine,
                client,
                approvers,
                home,
                durable,
                revoker=revoker,
                reviews=reviews,
                review_cards=review_cards,
                reviewer=reviewer,
            ),
            views=views.Deps(services, engine, client, durable),
            events=events.Deps(approvers, home, languages),
        )


def register(bolt: App, deps: Deps) -> Commands:
    """Every listener on `bolt`. Returns `/mysafe`'s handlers, whose `take` the fast ack calls."""
    handlers = commands.register(bolt, deps.commands)
    actions.register(bolt, deps.actions)
    views.register(bolt, deps.views)
    events.register(bolt, deps.events)
    return handlers


def register_jobs(registry: Registry, deps: Deps) -> None:
    """The handler of every kind of job the Slack front's acks store."""
    commands.register_jobs(registry, deps.commands)
    actions.register_jobs(registry, deps.actions)
    views.register_jobs(registry, deps.views)
