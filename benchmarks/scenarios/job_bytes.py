"""The Redis bytes one queued command costs (its stream entry and delivery key), freed when done
(the mechanics: benchmarks/durable.py)."""

from __future__ import annotations

from benchmarks import durable
from benchmarks.context import Context, Options
from benchmarks.harness import Bench
from benchmarks.table import Row

NAME = "job-bytes"
HELP = "Redis bytes per queued command"


def run(bench: Bench, context: Context, options: Options) -> list[Row]:
    sizes = durable.bytes_per_job(context.services)
    return [
        Row(
            "Redis bytes per queued command",
            "",
            "2000",
            "",
            "",
            "",
            "",
            f"{sizes['stream'] + sizes['seen']:,.0f} B/command (stream entry "
            f"{sizes['stream']:,.0f} + delivery key {sizes['seen']:,.0f}); freed when done",
            "(no target)",
        )
    ]
