"""Modal submissions (`forms`): deny reason, `/mysafe login`, `rotate` and `create`. Each ack
checks what it can without I/O and stores the rest as a job before it acks; each speaks the
submitter's language (the ack as last read, the job as Slack says)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.jobs.registry import Registry
from app.slack.listeners.durable import Work
from app.slack.listeners.views.forms import (
    Deps,
    FormWork,
    Views,
    forms,
    in_their_language,
    job_kind,
)
from app.slack.respond import Respond

if TYPE_CHECKING:
    from slack_bolt import App

__all__ = ["Deps", "register", "register_jobs"]


def register(bolt: App, deps: Deps) -> None:
    for callback_id, ack, _work in forms(Views(deps)):
        bolt.view(callback_id)(in_their_language(deps, ack))


def register_jobs(registry: Registry, deps: Deps) -> None:
    for callback_id, _ack, work in forms(Views(deps)):
        deps.durable.on_job(registry, job_kind(callback_id), _on_view(work))


def _on_view(work: FormWork) -> Work:
    def run(body: dict[str, Any], _respond: Respond | None) -> None:
        work(body, body["view"])

    return run
