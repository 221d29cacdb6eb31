"""What a run tells its reader besides the table: progress on stderr, and on stdout the machine
it ran on, the load around it and a summary of the bot's log and of what Slack received."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

from benchmarks.harness import Bench


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, {dt.date.today().isoformat()}"
    )


#: The host-speed probe's size: a pure-Python loop of this many squares.
PROBE_SQUARES = 3_000_000


def host_speed() -> str:
    """How long this process takes for a fixed pure-Python loop, best of three: on a shared
    virtual machine the host's speed moves by half within an hour, and the rows in seconds
    (the burst, the answers' latency) move with it while the ratios to the ceiling do not."""
    best = min(_probe() for _ in range(3))
    return f"{best * 1000:.0f} ms"


def _probe() -> float:
    started = time.perf_counter()
    total = 0
    for n in range(PROBE_SQUARES):
        total += n * n
    return time.perf_counter() - started


def loadavg() -> str:
    with contextlib.suppress(OSError):
        return "/".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def log_summary(path: Path) -> str:
    levels: dict[str, int] = {}
    events: dict[str, int] = {}
    problems: list[str] = []
    lines = dumps = 0
    with contextlib.suppress(OSError), path.open(errors="replace") as handle:
        for line in handle:
            lines += 1
            dumps += line.startswith("Timeout (")  # a stalled loop's stacks (app.jobs.stall)
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict):
                continue  # a piece of a line a stack dump cut in two
            level = record.get("level", "?")
            levels[level] = levels.get(level, 0) + 1
            events[record.get("event", "-")] = events.get(record.get("event", "-"), 0) + 1
            if level in ("warning", "error", "critical") and len(problems) < 5:
                problems.append(line.strip()[:300])
    top = ", ".join(f"{k}={v}" for k, v in sorted(events.items(), key=lambda kv: -kv[1])[:8])
    text = f"bot log: {lines} lines; levels {levels}; top events: {top}; stall dumps: {dumps}"
    return text + "".join(f"\n  {p}" for p in problems)


def summary(bench: Bench) -> str:
    """The bot's log in a few lines, and every Web API call the Slack fake received."""
    return (
        log_summary(bench.bot_log)
        + "\nSlack Web API calls received by the fake: "
        + ", ".join(f"{m}={len(c)}" for m, c in sorted(bench.slack.by_method.items()))
        + f"; response_url posts={bench.slack.response_count}"
    )
