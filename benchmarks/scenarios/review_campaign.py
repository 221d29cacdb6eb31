"""An access review campaign of 10,000 lines: its start, then every decision applied (the
mechanics, in a process of its own: benchmarks/review_campaign.py)."""

from __future__ import annotations

from benchmarks import review_campaign
from benchmarks.context import Context, Options
from benchmarks.harness import Bench
from benchmarks.report import log
from benchmarks.table import Row

NAME = "review-campaign"
HELP = "an access review campaign of 10,000 lines: its start, then every line decided"


def run(bench: Bench, context: Context, options: Options) -> list[Row]:
    lines = options.review_lines
    log(f"review campaign: {lines:,} lines, started, then every line decided")
    return [Row(*r) for r in review_campaign.rows(bench, context.env, lines=lines)]
