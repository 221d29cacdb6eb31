"""Work after an ack, as a job: how a listener stores it and how its handler answers.

The ack stores the job in Redis (`app.jobs`) and only then answers Slack; a consumer runs it
later, in this process or another, and answers through the click's `response_url` (`Respond`)
or a DM. `Durable` is what both need, and the same whether Bolt or the route's fast ack
(`app.slack.intake`) took the request. When Redis cannot take the job, the person is told
that nothing was done. Every job speaks the language of the person whose click, form or
command it is (`Languages`); an ack speaks the one last read for them (it never asks Slack).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient

from app.i18n import N_, _
from app.jobs.queue import Limit, Taken
from app.jobs.registry import Registry
from app.jobs.work import Jobs
from app.slack.languages import Languages
from app.slack.respond import Respond, Responder

#: The work after an ack: the request's body, and its `response_url` answer (None without one).
Work = Callable[[dict[str, Any], Respond | None], None]

#: What an ack says when Redis cannot take the work: nothing was stored, nothing will happen.
UNAVAILABLE = N_("The bot's storage is unavailable right now; nothing was done. Try again in a minute.")


@dataclass(frozen=True)
class Durable:
    """The process's durable work, the answers' pool, the Web API for DMs, and whose
    language each answer speaks (the person's own; the workspace's by default)."""

    jobs: Jobs
    responder: Responder
    client: WebClient
    languages: Languages

    def store(self, kind: str, body: dict[str, Any], *, limit: Limit | None = None) -> bool:
        """Put the job in Redis before the ack promises it; False when Redis cannot take it.
        With a `limit`, counted in the same step: `OverLimit` when past it, nothing stored."""
        return self.jobs.store(kind, body, who=person(body), limit=limit)

    def take_counted(self, kind: str, body: dict[str, Any], *, limit: Limit, read: str) -> Taken | None:
        """`store` counted against `limit`, reading the key `read` in the same round trip (a
        command's ack: its person's language); None when Redis cannot take it."""
        return self.jobs.take(kind, body, who=person(body), limit=limit, read=read)

    def on_job(self, registry: Registry, kind: str, work: Work) -> None:
        """Register `work` as the handler of `kind`, answering through the body's response_url
        in the language of the person whose click, form or command it is."""

        def run(body: dict[str, Any]) -> None:
            with self.languages.to_person(person(body)):
                work(body, self.responder.to(body.get("response_url")))

        registry.register(kind, run)

    def take(self, kind: str, body: dict[str, Any]) -> None:
        """A durable click's ack (empty): store its job; with Redis down, tell the person that
        nothing was done. The one place for it: Bolt's listener (Socket Mode) and the route's
        fast ack (`app.slack.intake`) both call it."""
        if not self.store(kind, body):
            with self.languages.to_person(person(body), ask=False):
                respond = self.responder.to(body.get("response_url"))
                tell(self.client, body, respond, _(UNAVAILABLE))


def tell(
    client: WebClient, body: dict[str, Any], respond: Callable[..., Any] | None, text: str
) -> None:
    """An ephemeral answer to the person who clicked; the channel message is untouched."""
    if respond is not None and body.get("response_url"):
        respond(text=text, response_type="ephemeral", replace_original=False)
    else:
        client.chat_postMessage(channel=body["user"]["id"], text=text)


def person(body: dict[str, Any]) -> str:
    """Who asked: a command's `user_id`, an interaction's `user.id`."""
    return str(body.get("user_id") or body.get("user", {}).get("id", ""))
