"""An access review's report: every line with its decision, as CSV and JSON, their totals, and
the SHA-256 of each (the digests go to the audit log, the lasting evidence)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from app.approvals.review_records import TIMEOUT


@dataclass(frozen=True)
class Report:
    rows: tuple[dict[str, object], ...]
    totals: dict[str, int]
    csv: str
    json: str

    @property
    def sha256(self) -> dict[str, str]:
        return {
            "csv": hashlib.sha256(self.csv.encode()).hexdigest(),
            "json": hashlib.sha256(self.json.encode()).hexdigest(),
        }


def build(
    name: str, rows: tuple[dict[str, object], ...], gone: Mapping[str, str], escalated: int
) -> Report:
    """The report of campaign `name`: `rows` (`jsonable`), the reviewers whose key no longer
    works (-> why), and how many lines were escalated."""
    totals = {**_totals(rows), "escalated": escalated, "reviewers_escalated": len(gone)}
    text = io.StringIO()
    writer = csv.DictWriter(
        text, fieldnames=list(rows[0]) if rows else ["entry_id"], lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(rows)
    as_json = json.dumps(
        {"campaign": name, "totals": totals, "lines": rows, "reviewers_escalated": gone},
        indent=2,
        sort_keys=True,
    )
    return Report(rows, totals, text.getvalue(), as_json + "\n")


def _totals(rows: Sequence[dict[str, object]]) -> dict[str, int]:
    results = [str(r["result"]) for r in rows]
    return {
        "lines": len(rows),
        "undecided": sum(r["decision"] == "undecided" for r in rows),
        "kept": sum(r["decision"] == "keep" for r in rows),
        "remove_decided": sum(r["decision"] == "remove" for r in rows),
        "reduce_decided": sum(r["decision"] == "reduce" for r in rows),
        "removed": results.count("removed"),
        "reduced": results.count("reduced"),
        "pending": results.count("pending"),
        "drift": sum(r.startswith("drift") for r in results),
        "timed_out": sum(r["decided_by"] == TIMEOUT for r in rows),
    }
