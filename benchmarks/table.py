"""The benchmark's one table: its `Row`, the figures' formats, and a row's share of the ceiling.

Every scenario returns `Row`s; `run.py` prints them, in the registry's order, with `table`.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class Row:
    measure: str
    users: str = ""
    n: str = ""
    p50: str = ""
    p95: str = ""
    p99: str = ""
    rate: str = ""
    result: str = ""
    target: str = ""


HEADERS = Row("measurement", "users", "n", "p50 ms", "p95 ms", "p99 ms", "per s", "result", "target")
#: Columns right-aligned (the figures): users … per s.
NUMERIC = {1, 2, 3, 4, 5, 6}


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def ms(value: float) -> str:
    return f"{value:.1f}"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def latency_row(measure: str, users: object, n: object, latencies: list[float], *rest: str) -> Row:
    """A row whose p50/p95/p99 are those of `latencies` (ms); `rest` are per s, result, target."""
    return Row(
        measure,
        str(users),
        str(n),
        ms(pct(latencies, 50)),
        ms(pct(latencies, 95)),
        ms(pct(latencies, 99)),
        *rest,
    )


def ceiling_target(share: float, goal: float) -> str:
    """The target cell of an ack row: its throughput as a share of the ceiling's, against `goal`."""
    return f">={goal:.0%} ceiling: {verdict(share >= goal)}"


def table(rows: list[Row]) -> str:
    """The rows under the headers, columns padded to their widest cell, figures right-aligned."""
    cells = [dataclasses.astuple(HEADERS)] + [dataclasses.astuple(r) for r in rows]
    widths = [max(len(str(c[i])) for c in cells) for i in range(len(cells[0]))]
    lines = []
    for index, cell in enumerate(cells):
        parts = [
            str(v).rjust(widths[i]) if i in NUMERIC and index else str(v).ljust(widths[i])
            for i, v in enumerate(cell)
        ]
        lines.append("  ".join(parts).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
