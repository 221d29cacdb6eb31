"""Where an ack's time goes: `py-spy record` on every gunicorn worker of the bot while wrk
drives one kind of request at it, then the stacks folded into the functions that take the time.

py-spy (PyPI, a sampling profiler that reads the process from outside, so the code runs
unchanged) samples each worker at 200 Hz, threads that are busy only (idle ones waiting on a
socket or a lock are left out). Two views: *self* (the frame on top of the stack: where the CPU
is burnt) and *inclusive* (every frame on the stack: which layer the time is spent under).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]+)(?::\d+)?\)$")


def start(pids: list[int], seconds: float, out: Path) -> list[tuple[subprocess.Popen, Path]]:
    """`py-spy record` on each pid for `seconds`, raw (folded) stacks into `out`."""
    binary = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    started = []
    for pid in pids:
        path = out / f"py-spy-{pid}.txt"
        argv = [
            binary,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(seconds)),
            "--rate",
            "200",
            "--gil",
            "--format",
            "raw",
            "--output",
            str(path),
            "--nonblocking",
        ]
        started.append(
            (subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True), path)
        )
    return started


def finish(started: list[tuple[subprocess.Popen, Path]]) -> tuple[Counter[str], Counter[str], int]:
    """(self samples by function, inclusive samples by function, total samples)."""
    own: Counter[str] = Counter()
    under: Counter[str] = Counter()
    total = 0
    for proc, path in started:
        _, err = proc.communicate(timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"py-spy failed ({proc.returncode}): {err[-1000:]}")
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames = [name(f) for f in stack.split(";")[1:]]  # [0] is the thread
            if not frames:
                continue
            total += int(count)
            own[frames[-1]] += int(count)
            for frame in set(frames):
                under[frame] += int(count)
    return own, under, total


def name(frame: str) -> str:
    """`func (/abs/path/to/repo/app/x.py:12)` -> `func (app/x.py)`; py-spy already shortens
    library paths (`slack_bolt/app/app.py`)."""
    found = FRAME.match(frame)
    if not found:
        return frame
    return f"{found['func']} ({found['file'].removeprefix(str(ROOT) + '/')})"


def report(
    own: Counter[str], under: Counter[str], total: int, top: int = 15, *, of: str = "all workers"
) -> str:
    lines = [f"{total} samples of the thread holding the GIL (Python CPU), {of}", "self:"]
    lines += [f"  {n / total:5.1%}  {f}" for f, n in own.most_common(top)]
    lines.append("inclusive:")
    lines += [f"  {n / total:5.1%}  {f}" for f, n in under.most_common(top * 2)]
    return "\n".join(lines)
