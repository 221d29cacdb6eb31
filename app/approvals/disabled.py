"""The entries disabled through the bot, remembered because MySafe forgets to show them.

MySafe leaves a disabled entry out of its lists and answers 1009, and nothing else, when it is
read: not even its name. So `list` would lose it, and an approver reading "enable password
312" would not know which credential that is. The bot keeps what it knew when it disabled one:

    P:{disabled}:password   hash   "312" -> {"name", "request", "by", "at", "reason"}
    P:{disabled}:secret     hash   (the same, for API secrets)

Written by an engine listener when a request whose spec sets the entry's state is applied;
an entry is forgotten when it is enabled through the bot, or when a read shows it enabled (or
gone) again. Retention: as long as the entry stays disabled.

Who sees one: `visible_to` reads each remembered entry with the viewer's own key. MySafe
checks 1005, then 1006, then 1009, so a 1009 proves the viewer may see the entry: nobody
learns of an entry through the bot that MySafe would not show them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from app.approvals.change_request import ChangeRequest
from app.approvals.changes import spec_of
from app.approvals.decision import EveryChange
from app.approvals.machine import State
from app.foundations.errors import EntryDisabled, NoAccess, NotFound
from app.foundations.storage import RedisClient
from app.mysafe.models import Entry, Kind, ListItem

#: Remembered entries `visible_to` reads per call, newest first: each is one MySafe read.
MAX_CHECKED = 50


class Reader(Protocol):
    def get(self, kind: Kind, identifier: int) -> Entry: ...


@dataclass(frozen=True)
class DisabledEntry:
    """What the bot knew of an entry when it disabled it."""

    kind: Kind
    identifier: int
    name: str
    request: str
    by: str
    at: float
    reason: str = ""

    def item(self) -> ListItem:
        return ListItem(self.kind, self.identifier, self.name, active=False)


class DisabledEntries(EveryChange):
    def __init__(self, redis: RedisClient, *, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    def key(self, kind: Kind) -> str:
        return f"{self.prefix}:{{disabled}}:{kind.value}"

    # --- engine listener ---------------------------------------------------------------------

    def applied(self, request: ChangeRequest) -> None:
        """Remember or forget once MySafe took a change of state (whatever the verb is called:
        its spec says whether it leaves the entry enabled)."""
        active = spec_of(request.change).sets_active
        identifier = request.change.identifier
        if request.state is not State.APPLIED or active is None:
            return
        if identifier is None:
            return
        if active:
            self.forget(request.change.kind, identifier)
        else:
            self.remember(request, identifier)

    def remember(self, request: ChangeRequest, identifier: int) -> None:
        facts = {
            "name": request.entry_name,
            "request": request.id,
            "by": request.requester,
            "at": request.created,
            "reason": request.reason,
        }
        self.redis.hset(self.key(request.change.kind), str(identifier), json.dumps(facts))

    def forget(self, kind: Kind, identifier: int) -> None:
        self.redis.hdel(self.key(kind), str(identifier))

    # --- reading -----------------------------------------------------------------------------

    def get(self, kind: Kind, identifier: int) -> DisabledEntry | None:
        raw = self.redis.hget(self.key(kind), str(identifier))
        return _load(kind, str(identifier), raw) if raw else None

    def known(self, kind: Kind) -> list[DisabledEntry]:
        """Every remembered entry of this kind, newest first."""
        found = [_load(kind, ident, raw) for ident, raw in self.redis.hgetall(self.key(kind)).items()]
        return sorted(found, key=lambda e: e.at, reverse=True)

    def visible_to(self, client: Reader, kind: Kind) -> list[DisabledEntry]:
        """The remembered entries `client`'s person may see and that are still disabled;
        one found enabled or gone meanwhile (someone used MySafe itself) is forgotten."""
        return [e for e in self.known(kind)[:MAX_CHECKED] if self._still_disabled(client, e)]

    def _still_disabled(self, client: Reader, entry: DisabledEntry) -> bool:
        try:
            client.get(entry.kind, entry.identifier)
        except EntryDisabled:
            return True
        except NoAccess:
            return False
        except NotFound:
            self.forget(entry.kind, entry.identifier)
            return False
        self.forget(entry.kind, entry.identifier)
        return False


def _load(kind: Kind, identifier: str | bytes, raw: str | bytes) -> DisabledEntry:
    facts = json.loads(raw)
    return DisabledEntry(
        kind,
        int(identifier),
        name=str(facts.get("name") or ""),
        request=str(facts.get("request") or ""),
        by=str(facts.get("by") or ""),
        at=float(facts.get("at") or 0),
        reason=str(facts.get("reason") or ""),
    )


def merged(items: Iterable[ListItem], disabled: Iterable[DisabledEntry]) -> list[ListItem]:
    """MySafe's list with the disabled entries it leaves out, in identifier order."""
    listed = list(items)
    shown = {i.identifier for i in listed}
    extra = [d.item() for d in disabled if d.identifier not in shown]
    return sorted([*listed, *extra], key=lambda i: i.identifier)
