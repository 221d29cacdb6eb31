"""The bench's summary of the bot's log survives what a stall dump leaves in it: lines of
stacks, and pieces of a JSON line it cut in two (a full run's report was lost to one)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.report import log_summary


def test_a_stall_dump_in_the_log_is_counted_and_its_pieces_passed_over(tmp_path: Path) -> None:
    line = {"level": "info", "event": "jobs.done"}
    log = tmp_path / "bot.log"
    log.write_text(
        json.dumps(line)
        + "\nTimeout (0:00:03)!\nThread 0x00007f (most recent call first):\n"
        + '  File "/app/jobs/queue.py", line 260 in read\n'
        + "1\n"  # what was left of a line the dump cut
        + json.dumps(line)
        + "\n"
    )
    summary = log_summary(log)
    assert "levels {'info': 2}" in summary
    assert "jobs.done=2" in summary
    assert summary.endswith("stall dumps: 1")
