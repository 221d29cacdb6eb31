"""What the bot knows about MySafe entries, normalised from whatever variant the server sent.

Secret values (password, TOTP seed and code, client secret) never reach these objects: the
read schemas turn them into `has_…` flags, so nothing built from an entry can show a secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Kind(str, Enum):
    PASSWORD = "password"
    SECRET = "secret"

    @property
    def label(self) -> str:
        return "password" if self is Kind.PASSWORD else "API secret"


@dataclass(frozen=True)
class UserShare:
    username: str
    can_edit: bool = False

    def body(self) -> dict[str, object]:
        return {"username": self.username, "can_edit": self.can_edit}


@dataclass(frozen=True)
class GroupShare:
    name: str
    can_edit: bool = False

    def body(self) -> dict[str, object]:
        return {"name": self.name, "can_edit": self.can_edit}


@dataclass(frozen=True)
class Entry:
    """One password or API secret, without its secret values."""

    kind: Kind
    identifier: int
    name: str
    url: str = ""
    username: str = ""
    notes: str = ""
    tags: str = ""
    client_id: str = ""
    identifier_code: str = ""
    method: str = ""
    has_password: bool = False
    has_totp: bool = False
    has_client_secret: bool = False
    users_allowed: tuple[UserShare, ...] = ()
    groups_allowed: tuple[GroupShare, ...] = ()
    shared_error: tuple[str, ...] = ()
    #: False when MySafe answers 1009 for it: disabled, so nothing but its state is known.
    active: bool = True

    #: Fields a person may change with `update` (never secret values).
    PLAIN_FIELDS = {
        Kind.PASSWORD: ("name", "url", "username", "notes", "tags"),
        Kind.SECRET: ("name", "url", "client_id", "identifier_code", "method", "tags", "notes"),
    }

    def plain_fields(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in self.PLAIN_FIELDS[self.kind]}

    @classmethod
    def disabled(cls, kind: Kind, identifier: int) -> Entry:
        """A disabled entry as MySafe shows it: it answers 1009 and nothing more, not even a
        name, so this is all anyone can know of it until it is enabled again."""
        return cls(kind, identifier, name="", active=False)


@dataclass(frozen=True)
class ListItem:
    kind: Kind
    identifier: int
    name: str
    url: str = ""
    username: str = ""
    tags: str = ""
    can_view: bool = True
    can_write: bool = False
    need_justify: bool = False
    need_approval: bool = False
    #: False for a disabled entry, which MySafe's own list leaves out (the bot adds it back).
    active: bool = True

    def matches(self, text: str) -> bool:
        """MySafe filters by exact fields only; people type part of a name, URL or tag."""
        wanted = text.casefold()
        return not wanted or any(
            wanted in v.casefold() for v in (self.name, self.url, self.username, self.tags)
        )


@dataclass(frozen=True)
class WriteResult:
    """What MySafe said to a write: its message, the entity it echoed, partial-share failures."""

    message: str
    entry: Entry | None = None
    shared_error: tuple[str, ...] = field(default=())
