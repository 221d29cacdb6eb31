"""The one place a verb's neutral reply (`commands.replies`) becomes Slack: mrkdwn or a modal.

Plain text parts go through `app.text.inline`, whoever wrote them, so a name or a MySafe value
can neither format nor ping; a `Code` part keeps its characters as typed (it is meant to be
copied) but cannot close its code span or open markup.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from app import error_messages, text
from app.foundations.errors import BotError, PlainRefusal
from app.i18n import _
from app.slack import blocks
from app.slack.revoke_notices import time_bound_lines
from commands import access
from commands.replies import (
    AccessShown,
    Code,
    CreateForm,
    EntryList,
    EntryShown,
    Form,
    Link,
    LoginForm,
    Message,
    OpenForm,
    Part,
    Person,
    QueuePage,
    Refusal,
    Reply,
    RequestList,
    RotateForm,
    Strong,
    Submitted,
    When,
)


def render_text(reply: Reply, *, channel: str) -> str:
    """The mrkdwn text of any reply but a form; `channel` is where requests wait."""
    if isinstance(reply, Message):
        return message_text(reply)
    if isinstance(reply, Submitted):
        return blocks.waiting_notice(reply.request, channel)
    if isinstance(reply, EntryList):
        return blocks.entries_text(reply.kind, reply.items, reply.search, page=reply.page)
    if isinstance(reply, EntryShown):
        return blocks.entry_text(reply.entry)
    if isinstance(reply, RequestList):
        return _request_list(reply)
    if isinstance(reply, AccessShown):
        return access_message(reply)[0]
    raise TypeError(f"{type(reply).__name__} is not text: open it as a form")


def access_message(reply: AccessShown) -> tuple[str, list[dict[str, Any]]]:
    """The answer to `/mysafe access`: text and blocks, the full list behind *Show all*."""
    head, *rest = _access_lines(reply)
    return blocks.access_message(head, rest, entry=f"{reply.kind.value}:{reply.identifier}")


def access_view(reply: AccessShown) -> dict[str, Any]:
    """The *Show all* modal: every user and group with access."""
    head, *rest = _access_lines(reply)
    command = f"mysafe-bot access {reply.kind.value} {reply.identifier} --as SLACK_USER_ID"
    return blocks.access_modal(head, rest, command=command)


def _access_lines(reply: AccessShown) -> list[str]:
    return [message_text(Message((line,))) for line in access.lines(reply)]


def form_view(reply: OpenForm) -> dict[str, Any]:
    return _form(reply.form)


def _form(form: Form) -> dict[str, Any]:
    if isinstance(form, LoginForm):
        return blocks.login_modal()
    if isinstance(form, RotateForm):
        return blocks.rotate_modal(form.kind, form.identifier, "")
    if isinstance(form, CreateForm):
        return blocks.create_modal(form.kind)
    raise TypeError(f"no modal for {type(form).__name__}")


def refusal_text(error: BotError) -> str:
    """What the edge tells a person, a verb's refusal drawn like any other reply, and the
    core's plain-worded refusals (names as typed in them) made inert."""
    if isinstance(error, PlainRefusal):
        return error_messages.user_message(error, said=text.inline(str(error)))
    line = error.line if isinstance(error, Refusal) else None
    return error_messages.user_message(
        error, said=None if line is None else message_text(Message((line,)))
    )


def answer_errors(say: Callable[[str], object]) -> AbstractContextManager[None]:
    """`app.error_messages.answer_errors`, with refusals drawn for Slack."""
    return error_messages.answer_errors(say, refusal_text)


def message_text(message: Message) -> str:
    return "\n".join("".join(_part(part) for part in line) for line in message.lines)


def _part(part: Part) -> str:
    if isinstance(part, str):
        return text.inline(part)
    if isinstance(part, Strong):
        return f"*{text.inline(part.text)}*"
    if isinstance(part, Code):
        return f"`{text.code(part.text)}`"
    if isinstance(part, Person):
        return f"<@{part.user_id}>"
    if isinstance(part, When):
        return blocks.date(part.timestamp)
    if isinstance(part, Link):
        return f"<{part.url}|{text.inline(part.text)}>"
    raise TypeError(f"unknown part {type(part).__name__}")


def _request_list(reply: RequestList) -> str:
    own = reply.own
    lines = (
        [
            _("*Your open requests* ({count})").format(count=len(own)),
            *(blocks.request_line(r) for r in own),
        ]
        if own
        else [_("You have no open requests.")]
    )
    if reply.time_bound:
        lines += ["", *time_bound_lines(reply.time_bound, viewer=reply.viewer or None)]
    if reply.queue is not None:
        lines += ["", *_queue(reply.queue)]
    return "\n".join(lines)


def _queue(queue: QueuePage) -> list[str]:
    """The approver's queue, a page at a time, with counts: never cut without saying so."""
    if not queue.total:
        return [_("Nothing is waiting for your approval.")]
    head = _("*Waiting for your approval*: {total}, newest first; page {page} of {pages}").format(
        total=queue.total, page=min(queue.page, queue.pages), pages=queue.pages
    )
    more = (
        [_("Next: `/mysafe requests page {page}`").format(page=queue.page + 1)]
        if queue.page < queue.pages
        else []
    )
    return [head, *(blocks.request_line(r) for r in queue.requests), *more]
