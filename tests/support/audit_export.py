"""A synthetic, well-signed export of any size, written without Redis: the verify test of
100,000 records and `benchmarks/audit_verify.py` use it, so they measure verify alone."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.audit.checkpoints import Checkpoint
from app.audit.formats import Record, jsonl_line
from app.audit.log import canonical
from app.audit.merkle import Frontier, leaf_hash


def write_export(path: Path, records: int, key: Ed25519PrivateKey, *, every: int = 10_000) -> None:
    """`records` records like the bot's (about 230 bytes each), a checkpoint every `every`."""
    frontier, previous = Frontier(), ""
    with path.open("wb") as out:
        for seq in range(records):
            body = canonical(
                {
                    "actor": "U0APPROVER1",
                    "approvals": "1",
                    "event": "request.applying",
                    "reason": f'ticket OPS-{seq} "rotate" é',
                    "request": f"R-{seq:07d}",
                    "seq": seq,
                    "state": "applying",
                    "ts": "2026-12-05T14:02:11.204+00:00",
                }
            )
            leaf = leaf_hash(body)
            frontier.append(leaf)
            out.write(jsonl_line(Record(seq, leaf.hex(), body)))
            if (seq + 1) % every == 0 or seq + 1 == records:
                made = Checkpoint(
                    frontier.size, frontier.root().hex(), "2026-12-05T14:10:00.000+00:00", previous
                ).signed(key)
                previous = made.hash
                out.write(jsonl_line(made))
