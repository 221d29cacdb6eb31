"""What a verb answers, in terms no chat front has to undo: the front decides how it looks.

A verb's `run` returns one of these and never a chat markup string, so a second front (a local
console, another chat) can reuse every verb: `app.slack.replies.render_text` is the one place that
turns them into Slack mrkdwn or a modal.

- `Message`: lines of text made of `Part`s. A bare `str` is text shown as typed (the front
  makes it inert, whoever wrote it); `Strong`, `Code`, `Person` and `When` say what a part
  *is* (a label to stress, a command to copy, a person, a moment), not how it is drawn.
- `OpenForm`: a form for the person to fill in privately (secrets travel only through forms).
- `Submitted`: a change request was stored and waits for an approver.
- `EntryList`, `EntryShown`, `AccessShown`, `RequestList`: answers the front lays out (and
  pages) itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeAlias

from app.approvals.change_request import ChangeRequest
from app.approvals.given import Holder
from app.approvals.revokes import Revoke
from app.foundations.errors import ValidationError
from app.i18n import pieces
from app.mysafe.models import Entry, Kind, ListItem

# --- text -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Strong:
    """Text to stress: a heading, or the name the answer is about."""

    text: str


@dataclass(frozen=True)
class Code:
    """A command or value to copy exactly as written."""

    text: str


@dataclass(frozen=True)
class Person:
    """A chat user, by the front's own user ID (the front shows their name)."""

    user_id: str


@dataclass(frozen=True)
class When:
    """A moment, as epoch seconds: the front shows it in the reader's own time zone."""

    timestamp: int


@dataclass(frozen=True)
class Link:
    """A link for the reader to open (the bot's own pages): its words, and where it goes."""

    text: str
    url: str


Part: TypeAlias = str | Strong | Code | Person | When | Link
Line: TypeAlias = tuple[Part, ...]


@dataclass(frozen=True)
class Message:
    """Lines of text; each line is a sequence of parts read left to right."""

    lines: tuple[Line, ...]

    @classmethod
    def of(cls, *parts: Part) -> Message:
        """A one-line message."""
        return cls((tuple(parts),))


def plain_text(line: Line) -> str:
    """A line without chat markup, for readers that show text as it is (logs, the webhook,
    MCP): a command in backticks as plain-text writers quote code, a person by their chat user
    ID, a moment in UTC."""
    return "".join(_plain(part) for part in line)


def _plain(part: Part) -> str:
    if isinstance(part, str):
        return part
    if isinstance(part, Code):
        return f"`{part.text}`"
    if isinstance(part, Strong):
        return part.text
    if isinstance(part, Person):
        return part.user_id
    if isinstance(part, Link):
        return f"{part.text} ({part.url})"
    return datetime.fromtimestamp(part.timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def line(template: str, **parts: Part) -> Line:
    """A translated sentence whose `{placeholders}` are parts (a command, a person, a moment),
    each where the language puts it (`app.i18n.pieces`)."""
    return pieces(template, **parts)


class Refusal(ValidationError):
    """A verb's refusal about one `field`, said neutrally like any reply.

    Given as a `Line`, it keeps the parts (a command to copy, a person) for the front to draw
    (`app.slack.replies.refusal_text`), and `str()` is the same words in plain text; given as
    a `str`, it is that text and `line` is None.
    """

    def __init__(self, field: str, message: str | Line) -> None:
        self.line = None if isinstance(message, str) else message
        text = message if isinstance(message, str) else plain_text(message)
        super().__init__({field: text}, text)


# --- forms ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginForm:
    """Client ID, client secret and MySafe username, checked with MySafe on submit."""


@dataclass(frozen=True)
class RotateForm:
    """New secret values for one entry."""

    kind: Kind
    identifier: int


@dataclass(frozen=True)
class CreateForm:
    """Every field of a new entry, and whom to share it with."""

    kind: Kind


Form: TypeAlias = LoginForm | RotateForm | CreateForm


@dataclass(frozen=True)
class OpenForm:
    form: Form


# --- answers the front lays out -------------------------------------------------------------


@dataclass(frozen=True)
class Submitted:
    """A change request is stored and waits for approval."""

    request: ChangeRequest


@dataclass(frozen=True)
class EntryList:
    """The entries of one kind a person can see, matching `search` when given."""

    kind: Kind
    items: Sequence[ListItem]
    search: str = ""
    page: int = 1


@dataclass(frozen=True)
class EntryShown:
    """One entry; secret values are never in it, only whether they are set."""

    entry: Entry


@dataclass(frozen=True)
class AccessShown:
    """Everyone with access to one entry, as the asker's key reads it, and how each came
    (`lines` says it in words any front can draw)."""

    kind: Kind
    identifier: int
    entry_name: str
    holders: Sequence[Holder]
    #: False for a disabled entry: MySafe shows nothing of it, its sharing included.
    active: bool = True


@dataclass(frozen=True)
class QueuePage:
    """One page of the requests waiting for an approver, newest first."""

    requests: Sequence[ChangeRequest]
    total: int
    page: int
    pages: int


@dataclass(frozen=True)
class RequestList:
    """A person's own open requests, and (approvers only) a page of what waits for them."""

    own: Sequence[ChangeRequest]
    queue: QueuePage | None = None
    #: Time-bound shares still running that the person owns or was given.
    time_bound: Sequence[Revoke] = ()
    #: Whose list it is (Slack ID): their own share reads "you".
    viewer: str = ""


Reply: TypeAlias = Message | OpenForm | Submitted | EntryList | EntryShown | AccessShown | RequestList
