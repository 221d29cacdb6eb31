"""One end's write, exactly once: read as the owner under the entry lock, decide, keep, write.

A revoke reads the entry as the owner under the entry lock and leaves each principal what
their access record says outlives this share: their base and the highest share still running
(`app.approvals.ledger`). It keeps that decision (and, for `rotate-after`, the new password,
sealed) before it writes, so a worker taking it over after a kill finishes that write rather
than deciding again from an entry that already shows it. A `rotate-after` write is proven by
SHA-256 digests of the password before the write, after it and sent. Split from `Revoker`
(app.approvals.revoker), which claims the end, records it and retries it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from app.approvals.access import AccessBook
from app.approvals.audit import Audit
from app.approvals.entry_locks import EntryLock, EntryLocks
from app.approvals.grants import TakeBack
from app.approvals.ledger import Ledger, Pending, Plan, end_write, taken_by
from app.approvals.passwords import new_password
from app.approvals.revoke_proof import old_compared, rotation_proven
from app.approvals.revokes import SAFETY, Revoke, RevokeStore
from app.foundations.clock import timestamp
from app.foundations.crypto import Keyring
from app.foundations.errors import LeaseLost, NotApplied
from app.foundations.settings import Settings
from app.mysafe.client import UserClient, digest
from app.mysafe.models import Entry
from app.mysafe.transport import deadline


class EndWriter:
    """Writes one share's end with the owner's client, for the holder of its claim."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: RevokeStore,
        access: AccessBook,
        locks: EntryLocks,
        audit: Audit,
        keyring: Keyring,
    ) -> None:
        self.settings = settings
        self.store = store
        self.access = access
        self.locks = locks
        self.audit = audit
        self.keyring = keyring

    def take_back(
        self, revoke: Revoke, client: UserClient, lease: str, *, now: float, until: float
    ) -> TakeBack:
        """Read as the owner, holding the entry, and finish this end once: a write an earlier
        attempt decided and the entry shows is only reported; one the entry cannot tell (a new
        password alone) is sent again as it was decided; otherwise the end is decided from the
        access records (`Ledger.end`), kept before the write, and written once. For
        `rotate-after` the write carries a new password even when nothing else is left to
        undo: the grantee saw the old one, and it is proven changed before the end is done."""
        left = until - now - SAFETY
        with (
            self.locks.hold(
                revoke.kind, revoke.identifier, lease=max(left, 0.0), wait=max(min(left / 2, 30.0), 0.0)
            ) as held,
            deadline(time.monotonic() + left),
        ):
            current = client.get(revoke.kind, revoke.identifier)
            keys = [g.key for g in revoke.grant.items]
            read = self.access.read(revoke.kind, revoke.identifier, keys)
            ledger = read.settled(current)
            name = end_write(revoke.request_id)
            earlier = ledger.pending.get(name)
            if earlier is not None and earlier.landed:
                self._save(held, revoke, read, ledger.done(name, ()))
                if earlier.rotate:
                    self._confirm_rotation(client, revoke, revoke.sealed, before="")
                return taken_by(earlier)
            plan = self._plan(revoke, ledger, earlier, current)
            assert plan.taken is not None
            sealed = self._sealed(revoke) if revoke.rotate_after else ""
            if plan.taken.body is None and not sealed:
                self._save(held, revoke, read, ledger.done(name, plan.records))
                return plan.taken  # nothing left of the grant: nothing to write
            if not held.still_held() or not self.store.start_write(
                revoke.request_id, lease, now=timestamp(), sealed=sealed
            ):
                raise LeaseLost("the revoke's claim ran out before the write")
            decided = ledger.deciding(name, plan.pending(rotate=bool(sealed)))
            self._save(held, revoke, read, decided)
            before = client.secret_digest(revoke.kind, revoke.identifier) if sealed else ""
            self._send(client, revoke, plan.taken.body or {}, sealed)
            self._save(held, revoke, decided, decided.landed(name))
            after = client.get(revoke.kind, revoke.identifier)
        problems = plan.taken.still_there(after)
        if sealed:
            self._confirm_rotation(client, revoke, sealed, before=before)
        if problems:
            raise NotApplied("MySafe accepted the revoke, but the entry shows: " + "; ".join(problems))
        return plan.taken

    def _confirm_rotation(
        self, client: UserClient, revoke: Revoke, sealed: str, *, before: str
    ) -> None:
        """Prove the new password landed by reading it back as a digest (the value is hashed
        in the client and compared here only as digests), or raise so the end is retried."""
        sent = digest(self.keyring.decrypt(sealed)) if sealed else ""
        after = client.secret_digest(revoke.kind, revoke.identifier)
        if not rotation_proven(after=after, sent=sent):
            raise NotApplied("MySafe accepted the revoke, but the password it holds is not the new one")
        self.audit.record(
            "share.rotate_verified",
            request=revoke.request_id,
            actor="worker",
            entry=f"{revoke.kind.value}:{revoke.identifier}",
            compared="sha256",
            old=old_compared(before, sent),
        )

    def _send(
        self, client: UserClient, revoke: Revoke, body: Mapping[str, object], sealed: str
    ) -> None:
        """The end's one write; the new password is opened only for it, and is MySafe's alone
        (and sealed on the record until the end is recorded) from here."""
        sent = {**body, "password": self.keyring.decrypt(sealed)} if sealed else body
        client.update(revoke.kind, revoke.identifier, sent)

    @staticmethod
    def _plan(revoke: Revoke, ledger: Ledger, earlier: Pending | None, current: Entry) -> Plan:
        """This end decided now, or as an earlier attempt decided it when its write (a new
        password alone, which the entry cannot show) may have landed: sent again as it was."""
        if earlier is not None:
            return Plan(earlier.moves, earlier.records, TakeBack(None, (), ()))
        return ledger.end(revoke.request_id, revoke.grant, current, legacy=revoke.legacy)

    def _sealed(self, revoke: Revoke) -> str:
        """The new password of this end, sealed: the one an earlier attempt may have sent, or a
        new one (made here, never shown or kept in clear)."""
        if revoke.sealed:
            return revoke.sealed
        settings = self.settings
        password = new_password(settings.rotate_length, settings.rotate_classes)
        return self.keyring.encrypt(password).decode()

    def _save(self, held: EntryLock, revoke: Revoke, old: Ledger, new: Ledger) -> None:
        self.access.save(held, revoke.kind, revoke.identifier, old, new)
