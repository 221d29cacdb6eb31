"""What a change request asks for, as a record: the `Verb` and the validated intent, `Change`.

The parts of a verb's spec (`change_checks`, `change_bodies`, `change_diff`, `change_readback`,
`entry_calls`) read a `Change`, and `changes` builds each verb's spec from them: so the record
sits below both, and `changes` checks at import that every `Verb` here has its spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from app.mysafe.models import GroupShare, Kind, UserShare


class Verb(str, Enum):
    SHARE = "share"
    UNSHARE = "unshare"
    UPDATE = "update"
    ROTATE = "rotate"
    CREATE = "create"
    DISABLE = "disable"
    ENABLE = "enable"
    #: Lower users or groups from edit to view (an access review's *Reduce to view*); they
    #: are named in `add_users` / `add_groups` with `can_edit` False, the right they keep.
    REDUCE = "reduce"


@dataclass(frozen=True)
class Change:
    """A validated intent. Which parts are used depends on the verb."""

    verb: Verb
    kind: Kind
    identifier: int | None = None
    add_users: tuple[UserShare, ...] = ()
    add_groups: tuple[GroupShare, ...] = ()
    remove_users: tuple[str, ...] = ()
    remove_groups: tuple[str, ...] = ()
    fields: Mapping[str, str] = field(default_factory=dict)
    #: Seconds the access lasts (0: for good); what it added is taken back at the end.
    duration: int = 0
    #: At the end of a time-bound password share, also set a new random password.
    rotate_after: bool = False
    #: The time-bound share this one extends (its end is taken over once this is applied).
    extends: str = ""

    @property
    def time_bound(self) -> bool:
        return self.duration > 0

    def to_json(self) -> dict[str, Any]:
        return {
            "duration": self.duration,
            "rotate_after": self.rotate_after,
            "extends": self.extends,
            "verb": self.verb.value,
            "kind": self.kind.value,
            "identifier": self.identifier,
            "add_users": [u.body() for u in self.add_users],
            "add_groups": [g.body() for g in self.add_groups],
            "remove_users": list(self.remove_users),
            "remove_groups": list(self.remove_groups),
            "fields": dict(self.fields),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Change:
        return cls(
            verb=Verb(data["verb"]),
            kind=Kind(data["kind"]),
            identifier=data.get("identifier"),
            add_users=tuple(UserShare(u["username"], u["can_edit"]) for u in data["add_users"]),
            add_groups=tuple(GroupShare(g["name"], g["can_edit"]) for g in data["add_groups"]),
            remove_users=tuple(data["remove_users"]),
            remove_groups=tuple(data["remove_groups"]),
            fields=dict(data["fields"]),
            duration=int(data.get("duration") or 0),
            rotate_after=bool(data.get("rotate_after")),
            extends=str(data.get("extends") or ""),
        )
