"""The benchmark's header says how fast the host was at the start and at the end of the run: the
rows in seconds (the burst, the answers' latency) move with it, and a reader comparing two runs
needs it. Nothing here starts a server."""

from __future__ import annotations

import re

import pytest

from benchmarks import run


def test_the_header_names_the_host_s_speed_at_start_and_at_end(
    capsys: pytest.CaptureFixture[str],
) -> None:
    options = run.Options.from_args(run.build_parser().parse_args(["--quick"]))
    run.print_report(options, [], "", elapsed=1.0, load_start="0.1/0.2/0.3", speed_start="290 ms")
    header = capsys.readouterr().out
    found = re.search(
        r"the host's speed \(a loop of 3,000,000 squares\) (\d+) ms at start, (\d+) ms at end", header
    )
    assert found, header
    assert found.group(1) == "290" and int(found.group(2)) > 0
