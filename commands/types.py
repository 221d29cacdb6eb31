"""What the slash-command parser hands out: tokens, targets, entry references and commands.

Everything here is a frozen dataclass, so a parsed command can be logged, compared in tests and
passed between threads without anyone changing it on the way. Nothing here does I/O.

Tokens are what the tokenizer reads from a front's text; a person, channel or user group the
front recognised there (a mention) is a token of its own (`ChatUser`, `ChatChannel`,
`ChatUserGroup`), so the grammar never reads a front's markup. `ChatUser` is also a share
target.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

from app.mysafe.models import Kind
from commands.replies import Reply

# --- tokens --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """A run of one word's text: `literal` when it was quoted or is a link the front recognised."""

    text: str
    literal: bool = False


@dataclass(frozen=True)
class Word:
    """One whitespace-separated word, kept as segments so quoting stays visible to the grammar.

    `group:"Ops team"` is the segments `group:` (bare) and `Ops team` (literal): the grammar can
    tell the prefix the person typed from a name that merely contains a colon.
    """

    parts: tuple[Segment, ...]

    @property
    def text(self) -> str:
        return "".join(part.text for part in self.parts)

    @property
    def bare(self) -> bool:
        """True when nothing in the word was quoted: only bare words can be keywords."""
        return not any(part.literal for part in self.parts)

    @classmethod
    def of(cls, text: str, *, literal: bool = False) -> Word:
        return cls((Segment(text, literal),))


@dataclass(frozen=True)
class KeyValue:
    """`key=value`; `quoted` tells whether any of the value was quoted (for hints only)."""

    key: str
    value: str
    quoted: bool = field(default=False, compare=False)

    @property
    def name(self) -> str:
        """The key as the grammar compares it: lower case, `-` read as `_`."""
        return self.key.lower().replace("-", "_")

    @property
    def text(self) -> str:
        return f"{self.key}={self.value}"


@dataclass(frozen=True)
class ChatUser:
    """A person the chat front recognised in the text (a mention), by the front's own user ID.

    `label` is the name the front showed for them (display text, not an identity) and `shown`
    how the word is quoted back in a refusal, both as the front gives them."""

    user_id: str
    label: str = field(default="", compare=False)
    shown: str = field(default="", compare=False)

    @property
    def text(self) -> str:
        return self.shown or _at(self.label) or self.user_id


@dataclass(frozen=True)
class ChatChannel:
    """A channel the front recognised in the text (never a share target)."""

    channel_id: str
    label: str = field(default="", compare=False)
    shown: str = field(default="", compare=False)

    @property
    def text(self) -> str:
        return self.shown or (f"#{self.label}" if self.label else self.channel_id)


@dataclass(frozen=True)
class ChatUserGroup:
    """A user group of the chat front recognised in the text (not a MySafe group)."""

    group_id: str
    label: str = field(default="", compare=False)
    shown: str = field(default="", compare=False)

    @property
    def text(self) -> str:
        return self.shown or _at(self.label) or self.group_id


def _at(label: str) -> str:
    return f"@{label.lstrip('@')}" if label else ""


Token: TypeAlias = Word | KeyValue | ChatUser | ChatChannel | ChatUserGroup

# --- targets and entries -------------------------------------------------------------------


@dataclass(frozen=True)
class MySafeUser:
    """`user:NAME`: a MySafe username given directly."""

    name: str


@dataclass(frozen=True)
class MySafeGroup:
    """`group:"Name"`: a MySafe group."""

    name: str


Target: TypeAlias = ChatUser | MySafeUser | MySafeGroup


@dataclass(frozen=True)
class EntryRef:
    """`password 312` or `secret 7`: which MySafe entry a command is about."""

    kind: Kind
    identifier: int

    def __str__(self) -> str:
        return f"{self.kind.value} {self.identifier}"


# --- commands ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Help:
    verb: str | None = None


@dataclass(frozen=True)
class Login:
    pass


@dataclass(frozen=True)
class Logout:
    pass


@dataclass(frozen=True)
class WhoAmI:
    pass


@dataclass(frozen=True)
class ListEntries:
    kind: Kind
    text: str = ""
    page: int = 1


@dataclass(frozen=True)
class Show:
    entry: EntryRef


@dataclass(frozen=True)
class WhoHasAccess:
    entry: EntryRef


@dataclass(frozen=True)
class Share:
    entry: EntryRef
    who: tuple[Target, ...]
    edit: bool = False
    reason: str = ""
    #: Seconds the access lasts (`for 8h`); 0 = for good.
    duration: int = 0
    rotate_after: bool = False
    #: `ticket KEY`: a ticket key or link (commands.tickets), which a policy rule may require.
    ticket: str = ""
    #: `emergency`: break-glass, applied at once where a rule allows it and every guard agrees.
    emergency: bool = False


@dataclass(frozen=True)
class Unshare:
    entry: EntryRef
    who: tuple[Target, ...]
    reason: str = ""
    ticket: str = ""


@dataclass(frozen=True)
class Update:
    """`fields` is a read-only mapping in the order typed (so the command is not hashable)."""

    entry: EntryRef
    fields: Mapping[str, str]
    reason: str = ""
    ticket: str = ""


@dataclass(frozen=True)
class Rotate:
    entry: EntryRef


@dataclass(frozen=True)
class Disable:
    entry: EntryRef
    reason: str = ""
    ticket: str = ""


@dataclass(frozen=True)
class Enable:
    entry: EntryRef
    reason: str = ""
    ticket: str = ""


@dataclass(frozen=True)
class Create:
    kind: Kind


@dataclass(frozen=True)
class Requests:
    page: int = 1


@dataclass(frozen=True)
class Cancel:
    request_id: str


@dataclass(frozen=True)
class McpToken:
    revoke: bool = False


@dataclass(frozen=True)
class Passkey:
    pass


Command: TypeAlias = (
    Help
    | Login
    | Logout
    | WhoAmI
    | ListEntries
    | Show
    | WhoHasAccess
    | Share
    | Unshare
    | Update
    | Rotate
    | Disable
    | Enable
    | Create
    | Requests
    | Cancel
    | McpToken
    | Passkey
)

# --- verbs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerbSpec:
    """How a verb is written and what it does; help text is generated from these alone."""

    name: str
    usage: str
    summary: str
    examples: tuple[str, ...] = ()


class VerbModule(Protocol):
    """A verb module: its `SPEC`, its `COMMAND` type, a `parse` from the tokens after the verb
    word, and a `run` that does the work (see `commands.dispatch`)."""

    SPEC: VerbSpec
    COMMAND: type

    def parse(self, args: list[Token]) -> Command: ...

    def run(self, ctx: Any, command: Any) -> Reply: ...
