"""`/mysafe`: parse in the ack (fast, no I/O), answer bad input at once, do the work after.

Help and parse errors are the ack's own (ephemeral) text. Modal verbs open their form right
after the ack, while Slack's trigger is fresh. Everything else is stored as a job before the
ack, which says "Working on …"; a consumer runs it and replaces that line with the answer
through `response_url`. The command's `trigger_id` is the request's idempotency key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from slack_sdk import WebClient

from app.approvals.engine import Engine
from app.foundations import metrics
from app.foundations.ratelimit import KEPT, RateLimiter, Verdict
from app.i18n import _, current
from app.jobs.consumer import last_word
from app.jobs.queue import Limit
from app.services import Services
from app.slack.approvers import Approvers
from app.slack.command_text import parse
from app.slack.listeners.durable import UNAVAILABLE, Durable
from app.slack.replies import (
    access_message,
    answer_errors,
    form_view,
    refusal_text,
    render_text,
)
from app.slack.respond import Respond
from app.text import clip
from commands import dispatch
from commands.context import Context
from commands.parser import CommandError
from commands.replies import AccessShown, OpenForm, Reply
from commands.types import Help

__all__ = ["COMMAND", "JOB", "UNAVAILABLE", "Commands", "Deps", "working_on"]

COMMAND = "/mysafe"


#: The job kind of a command with work after the ack.
JOB = "command"


@dataclass(frozen=True)
class Deps:
    """What `/mysafe` needs: the verbs' context, the forms' Web API, the job store."""

    services: Services
    engine: Engine
    approvers: Approvers
    client: WebClient
    durable: Durable


class Commands:
    """The listener's ack and its job, over one rate limiter and the instant verbs' texts."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        settings = deps.services.settings
        # Under the jobs' hash tag: a command with work is counted and stored in one step.
        self.limiter = RateLimiter(
            deps.services.redis,
            prefix=deps.durable.jobs.queue.tag,
            name="command",
            per_minute=settings.command_rate_limit,
        )
        #: Each instant verb's ack text, rendered once per language: `help` reads nothing and
        #: depends on no one, and its rendering was the largest part of its ack. Bounded by
        #: the verbs times the languages.
        self._instant: dict[tuple[Help, str], str] = {}
        self.languages = deps.durable.languages
        self.people = self.languages.people

    def context(self, body: dict[str, Any]) -> Context:
        return Context(
            user_id=body["user_id"],
            engine=self.deps.engine,
            services=self.deps.services,
            approvers=self.deps.approvers,
            idempotency_key=f"slack:{body.get('trigger_id', '')}",
        )

    def answer(self, body: dict[str, Any], reply: Reply, say: Callable[..., object]) -> None:
        """Render the verb's neutral reply: a form opens (on the command's trigger), who has
        access comes with blocks (its *Show all* button), anything else is said."""
        if isinstance(reply, OpenForm):
            self.deps.client.views_open(trigger_id=body["trigger_id"], view=form_view(reply))
        elif isinstance(reply, AccessShown):
            text, found = access_message(reply)
            say(text, blocks=found)
        else:
            say(self.text(reply))

    def text(self, reply: Reply) -> str:
        return render_text(reply, channel=self.deps.services.settings.approval_channel)

    def take(self, body: dict[str, Any]) -> str | None:
        """The ack's text for a command the ack answers or stores as a job; None for a form
        verb, whose modal only Bolt's listener (`ack`) opens.

        The one place that decides what a `/mysafe` ack says: `POST /slack/events` calls it
        without Bolt (`app.slack.intake`), and Bolt's listener calls it for Socket Mode.
        Parsing has no side effects, so a form verb costs nothing here before Bolt takes it.
        It speaks the person's language as last read (an ack never asks Slack), read in the
        ack's one round trip with the count (and the job): the text is worded after it.
        """
        text = body.get("text", "")
        try:
            command = parse(text)
        except CommandError as error:
            metrics.REQUESTS.labels(verb=error.verb or "unknown", outcome="invalid").inc()
            return self._answered(body, lambda: _refusal(text))
        if isinstance(command, dispatch.MODAL_COMMANDS):
            return None
        if isinstance(command, dispatch.INSTANT_COMMANDS):
            return self._answered(body, lambda: self.instant(body, command))
        return self.stored(body)

    def _answered(self, body: dict[str, Any], say: Callable[[], str | None]) -> str | None:
        """The ack of a command with no job (an instant verb, one the grammar refuses, a form
        verb's): counted against the person's limit with their language read in the same
        step, then `say`'s text in it, or why the command is not taken now."""
        user = body["user_id"]
        try:
            verdict, read = self.limiter.hit_reading(user, self.people.locale_key(user))
        except redis.RedisError:
            with self.languages.to_channel():
                return _(UNAVAILABLE)
        with self.languages.as_read(user, read):
            return say() if verdict.allowed else self.slow_down(verdict)

    def stored(self, body: dict[str, Any]) -> str:
        """A command with work: counted against its person's limit, stored as a job and the
        person's language read, in one round trip (`JobQueue.take`); the ack's text either
        way, in that language."""
        user = body["user_id"]
        window = self.limiter.window(user)
        limit = Limit(window.key, max(self.limiter.per_minute, 0), KEPT)
        taken = self.deps.durable.take_counted(
            JOB, body, limit=limit, read=self.people.locale_key(user)
        )
        if taken is None:
            with self.languages.to_channel():
                return _(UNAVAILABLE)
        with self.languages.as_read(user, taken.read):
            if taken.over:
                return self.slow_down(self.limiter.verdict(taken.count, window))
            return working_on(body.get("text", ""))

    def instant(self, body: dict[str, Any], command: Help) -> str:
        """An instant verb's text, the same for everyone: rendered at its first use in this
        process (a race renders it twice, to the same text)."""
        key = (command, current())
        text = self._instant.get(key)
        if text is None:
            text = self._instant[key] = self.text(dispatch.run(self.context(body), command))
        return text

    def slow_down(self, verdict: Verdict) -> str:
        """The ack of a command past its person's limit: nothing was done."""
        metrics.RATE_LIMITED.labels(limit="command").inc()
        return _(
            "Slow down: `/mysafe` is limited to {limit} commands a minute. Try again in {seconds} s."
        ).format(limit=self.limiter.per_minute, seconds=verdict.retry_after)

    def ack(self, ack: Callable[..., Any], body: dict[str, Any], respond: Callable[..., Any]) -> None:
        """Bolt's listener: what `take` says, or the form verb's modal, counted against the
        person's limit first. The modal opens after the ack, so it may ask Slack for the
        person's language (once; it is kept)."""
        text = self.take(body)
        if text is None:
            text = self._answered(body, lambda: None)
        if text is not None:
            ack(text=text)
            return
        ack()
        with self.languages.to_person(body.get("user_id", "")):
            self._open(body, respond)

    def _open(self, body: dict[str, Any], respond: Callable[..., Any]) -> None:
        command = parse(body.get("text", ""))

        # response_url works wherever the command was typed (DMs, private channels), unlike
        # chat.postEphemeral, which needs the bot in the channel.
        def tell(text: str, blocks: list[dict[str, Any]] | None = None) -> None:
            respond(text=text, blocks=blocks, response_type="ephemeral")

        with answer_errors(tell):
            self.answer(body, dispatch.run(self.context(body), command), tell)

    def work(self, body: dict[str, Any], respond: Respond | None) -> None:
        """The job: run the verb, then replace the ack's "Working on …" with the answer, in
        the person's language (`Durable.on_job` speaks it around every job)."""
        command = parse(body.get("text", ""))

        def say(text: str, blocks: list[dict[str, Any]] | None = None) -> None:
            if respond is not None:
                last_word()  # the command's answer: the job ends right after it
                respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=True)

        outcome = "error"
        with answer_errors(say):
            reply = dispatch.run(self.context(body), command)
            outcome = "ok"
            self.answer(body, reply, say)
        metrics.REQUESTS.labels(verb=type(command).__name__.lower(), outcome=outcome).inc()


def _refusal(text: str) -> str:
    """The grammar's refusal of `text`, worded in the language spoken now: its words are
    chosen as it parses, so it is parsed again once the person's language is known."""
    try:
        parse(text)
    except CommandError as error:
        return refusal_text(error)
    raise AssertionError("a command the grammar refused was taken on a second reading")


def working_on(text: str) -> str:
    """The ack's line while the job runs: the command as typed, shortened visibly."""
    return _("Working on /mysafe {command} …").format(command=clip(" ".join(text.split()), 80))
