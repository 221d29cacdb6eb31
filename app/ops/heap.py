"""What a process builds before it serves stays out of the garbage collector's full passes.

CPython's full collection walks every tracked object, and a process of the bot keeps its
start-up's (modules, the app, the runtime: about a hundred thousand) for its whole life. Under
a flood of acks a full pass in a web worker held its interpreter long enough to be a run's p99,
and in both web workers at once: forks of one master count their allocations alike
(`benchmarks/README.md`, issue #33). A job worker's passes run in whichever thread
allocates, a niced job thread included, with the interpreter lock held all along.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Collect start-up's garbage, then move every object alive to the collector's permanent
    generation, which its passes never walk (`gc.freeze`). Call once, when the process has
    built what it keeps and before it serves: what it makes later is collected as before."""
    gc.collect()
    gc.freeze()
