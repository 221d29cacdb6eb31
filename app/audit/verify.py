"""`mysafe-bot audit verify`: recompute the tree of an export, check every checkpoint's
signature and chain, and (with `--previous`) prove that it extends an earlier export.

It stops at the first problem and names the first sequence number it cannot vouch for:
a line not exactly as written (any changed byte), a record out of place (deleted, inserted,
reordered: its seq is not the next one), a record whose bytes do not hash to its leaf, a
checkpoint whose signature, chain, size or root does not hold (then the first record that
checkpoint should prove), and records no checkpoint covers. A forger who also rewrites a
record's leaf is caught by the root instead, which names only the interval's first record.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from app.audit.checkpoints import Checkpoint
from app.audit.formats import CSV_HEADER, Item, Record, Start, parse_csv, parse_jsonl
from app.audit.merkle import Frontier, consistency_proof, leaf_hash, verify_consistency
from app.foundations.errors import BotError


class Tampered(BotError):
    """The export is not what the log signed: `seq` is the first record it cannot vouch for."""

    def __init__(self, seq: int, why: str) -> None:
        super().__init__(f"first bad seq {seq}: {why}")
        self.seq = seq
        self.why = why


@dataclass
class Summary:
    """What a good export proved; `at` is the frontier at the size asked for, if it passed."""

    first: int = 0
    size: int = 0
    checkpoints: int = 0
    last: Checkpoint | None = None
    at: Frontier | None = None

    def line(self) -> str:
        root = self.last.root[:16] if self.last else ""
        return (
            f"ok: records {self.first}–{self.size - 1} ({self.size - self.first}), "
            f"{self.checkpoints} signed checkpoint(s), tree size {self.size}, root {root}…"
        )


def items(path: Path) -> Iterator[Item | ValueError]:
    """The export's items as read, a `ValueError` in place of a line not exactly as written."""
    with path.open("rb") as file:
        first = file.readline()
        if first == CSV_HEADER.encode():
            for raw in file:
                yield _parsed(_csv_item, raw)
            return
        for raw in itertools.chain([first] if first else [], file):
            yield _parsed(parse_jsonl, raw)


def _csv_item(raw: bytes) -> Item:
    return parse_csv(raw.decode())


def _parsed(parse: Callable[[bytes], Item], raw: bytes) -> Item | ValueError:
    try:
        return parse(raw)
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as error:
        return ValueError(str(error))


@dataclass
class Verifier:
    #: The keys the checkpoints may be signed with (more than one across a key rotation).
    keys: tuple[Ed25519PublicKey, ...]
    #: Keep a copy of the frontier when the tree reaches this size (for `--previous`).
    snapshot_at: int | None = None
    frontier: Frontier = field(default_factory=Frontier)
    summary: Summary = field(default_factory=Summary)
    started: bool = False

    def feed(self, item: Item | ValueError) -> None:
        expected = self.frontier.size
        if isinstance(item, ValueError):
            raise Tampered(expected, f"a line is not as written ({item})")
        if isinstance(item, Start):
            self._start(item)
        elif isinstance(item, Record):
            self._record(item, expected)
        else:
            self._checkpoint(item)
        self.started = True
        if self.snapshot_at == self.frontier.size and self.summary.at is None:
            self.summary.at = Frontier(self.frontier.size, self.frontier.nodes)

    def _start(self, start: Start) -> None:
        if self.started:
            raise Tampered(self.frontier.size, "a start line after the first line")
        try:
            self.frontier = Frontier(start.size, (bytes.fromhex(n) for n in start.nodes))
        except ValueError as error:
            raise Tampered(start.size, f"the start line's frontier is malformed ({error})") from None
        self.summary.first = start.size

    def _record(self, record: Record, expected: int) -> None:
        """The record in the place `expected`: its bytes hash to its leaf (else its own seq
        is not to be trusted either) and it is the next seq."""
        leaf = leaf_hash(record.body)
        if leaf.hex() != record.leaf:
            raise Tampered(expected, "the record does not hash to its leaf")
        if record.seq > expected:
            raise Tampered(expected, f"missing or moved: seq {record.seq} where {expected} belongs")
        if record.seq < expected:
            # The seq just before, twice: either may be the forgery, so the first is named.
            first = record.seq if record.seq == expected - 1 else expected
            raise Tampered(first, f"seq {record.seq} again, where seq {expected} belongs")
        self.frontier.append(leaf)

    def _checkpoint(self, checkpoint: Checkpoint) -> None:
        last = self.summary.last
        covered = last.size if last else self.summary.first
        if not any(checkpoint.valid(key) for key in self.keys):
            raise Tampered(
                covered, f"the checkpoint at size {checkpoint.size} is not signed by this key"
            )
        if last is not None and checkpoint.previous != last.hash:
            raise Tampered(
                covered,
                f"the checkpoint at size {checkpoint.size} does not follow "
                f"the one at size {last.size} (chain broken)",
            )
        if last is None and self.summary.first == 0 and checkpoint.previous != "":
            raise Tampered(
                0, "the first checkpoint names a previous one, yet the export starts at seq 0"
            )
        if checkpoint.size != self.frontier.size:
            raise Tampered(
                min(checkpoint.size, self.frontier.size),
                f"the checkpoint at size {checkpoint.size} follows record {self.frontier.size - 1}",
            )
        if checkpoint.root != self.frontier.root().hex():
            raise Tampered(
                covered,
                f"records {covered}–{checkpoint.size - 1} do not give the "
                f"root the checkpoint at size {checkpoint.size} signed",
            )
        self.summary.last = checkpoint
        self.summary.checkpoints += 1

    def finish(self) -> Summary:
        last = self.summary.last
        if last is None:
            raise Tampered(self.summary.first, "no checkpoint in the export")
        if self.frontier.size > last.size:
            raise Tampered(last.size, "records after the last checkpoint (covered by none)")
        self.summary.size = last.size
        return self.summary


def verify_file(
    path: Path,
    keys: Ed25519PublicKey | Sequence[Ed25519PublicKey],
    *,
    snapshot_at: int | None = None,
) -> Summary:
    """Verify the export at `path`; `Tampered` names the first bad seq."""
    accepted = (keys,) if isinstance(keys, Ed25519PublicKey) else tuple(keys)
    verifier = Verifier(accepted, snapshot_at=snapshot_at)
    for item in items(path):
        verifier.feed(item)
    return verifier.finish()


def verify_extends(path: Path, old_path: Path, old: Summary, new: Summary) -> None:
    """Prove with an RFC 6962 consistency proof that the export at `path` (already verified,
    with its frontier kept at the old size) extends the earlier one summed up in `old`."""
    assert old.last is not None and new.last is not None
    m, n = old.last.size, new.last.size
    if m > n:
        raise Tampered(n, f"the later export ends at size {n}, before the earlier's {m}")
    if new.at is None:
        raise Tampered(
            new.first,
            f"the later export starts at seq {new.first}, after the "
            f"earlier one's end ({m}): export it with an earlier --since",
        )
    proof = consistency_proof(m, n, _subtrees(path, new.at, n))
    if not verify_consistency(m, n, bytes.fromhex(old.last.root), bytes.fromhex(new.last.root), proof):
        raise Tampered(
            _first_difference(path, old_path, old),
            "the later export does not extend the earlier one (the consistency proof fails)",
        )


def _subtrees(path: Path, at: Frontier, n: int) -> Callable[[int, int], bytes]:
    """MTH of any range a consistency proof from `at.size` needs: a frontier node left of it,
    or hashed from the export's leaves right of it (a second, light pass over the file; the
    proof's ranges right of it are disjoint, so each leaf feeds at most one)."""
    known = dict(zip(at.ranges(), at.nodes, strict=True))
    wanted: dict[tuple[int, int], Frontier] = {}
    consistency_proof(at.size, n, lambda lo, hi: wanted.setdefault((lo, hi), Frontier()).root())
    spans = sorted(span for span in wanted if span not in known)
    starts = [lo for lo, _ in spans]
    for leaf_seq, leaf in _leaves(path):
        index = bisect.bisect_right(starts, leaf_seq) - 1
        if index >= 0 and leaf_seq < spans[index][1]:
            wanted[spans[index]].append(leaf)

    def subtree(lo: int, hi: int) -> bytes:
        return known[(lo, hi)] if (lo, hi) in known else wanted[(lo, hi)].root()

    return subtree


def _leaves(path: Path) -> Iterator[tuple[int, bytes]]:
    for item in items(path):
        if isinstance(item, Record):
            yield item.seq, bytes.fromhex(item.leaf)


def _first_difference(path: Path, old_path: Path, old: Summary) -> int:
    """The first seq whose leaf the two exports disagree on (the earlier's first seq when
    they hold none in common: then only the proof can say they differ)."""
    later = _leaves(path)
    current = next(later, None)
    for seq, leaf in _leaves(old_path):
        while current is not None and current[0] < seq:
            current = next(later, None)
        if current is not None and current[0] == seq and current[1] != leaf:
            return seq
    return old.first
