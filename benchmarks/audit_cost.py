"""What the audit log costs the approval path: approve click -> applied, in process
(`Engine.approve`: the transition, the MySafe write and its read-back over HTTP, the outcome),
with the audit log and without it, alternating, and the Redis round trips of each.

    .venv/bin/python -m benchmarks.audit_cost [--requests N]

Without the audit log means the same engine with the outbox's mark, its append and every other
record made no-ops (the transition script still writes its outbox item: that costs no round
trip). Round trips are counted at redis-py's sockets (tests/support/redis_wire.py). `make bench`
runs it as two rows (`rows`); alone it starts its own Redis, emulator and Slack fake.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from app.approvals.changes import Change, Verb
from app.approvals.engine import Engine
from app.mysafe.models import Kind, UserShare
from app.services import Services
from benchmarks.harness import Bench
from tests.support.redis_wire import Wire

REQUESTER, APPROVER = "UAUDITCOST", "UAUDITAPPROVER"


def measure(bench: Bench, services: Services, count: int) -> dict[str, dict[str, float]]:
    """`count` approvals each way, alternating: p50/p95 ms, round trips, and CPU per approval
    (this thread's, which excludes the emulator's threads; and Redis's own, from INFO)."""
    engine = Engine(services)
    client_id, secret = bench.emulator.add_user("audit.cost")
    services.vault.link(
        REQUESTER, client_id=client_id, client_secret=secret, mysafe_username="audit.cost"
    )
    bench.emulator.add_user("audit.grantee")
    ids = [_request(bench, engine, n) for n in range(2 * count + 2)]
    for warm in ids[:2]:  # every script loaded, every connection open
        engine.approve(warm, APPROVER)
    times: dict[str, list[float]] = {"audited": [], "bare": []}
    cpu: dict[str, list[float]] = {"audited": [], "bare": []}
    redis_cpu: dict[str, float] = {"audited": 0.0, "bare": 0.0}
    trips: dict[str, list[int]] = {"audited": [], "bare": []}
    for n, request_id in enumerate(ids[2:]):
        mode = "audited" if n % 2 == 0 else "bare"
        server = _redis_cpu(services)
        with _audit_off(engine) if mode == "bare" else contextlib.nullcontext(), Wire() as wire:
            started, thread = time.perf_counter(), time.thread_time()
            engine.approve(request_id, APPROVER)
            cpu[mode].append((time.thread_time() - thread) * 1000)
            times[mode].append((time.perf_counter() - started) * 1000)
        redis_cpu[mode] += _redis_cpu(services) - server
        trips[mode].append(len(wire.trips))
    return {
        mode: {
            "p50": statistics.median(times[mode]),
            "p95": sorted(times[mode])[max(0, round(0.95 * len(times[mode])) - 1)],
            "cpu": statistics.median(cpu[mode]),
            "redis_cpu": redis_cpu[mode] * 1000 / len(times[mode]),
            "trips": statistics.median(trips[mode]),
            "n": len(times[mode]),
        }
        for mode in times
    }


def _redis_cpu(services: Services) -> float:
    """Seconds of CPU the Redis server has used (user + system)."""
    info = services.redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def rows(bench: Bench, services: Services, count: int) -> list[dict[str, str]]:
    """`measure` as `make bench` rows (`benchmarks.table.Row`'s fields)."""
    result = measure(bench, services, count)
    audited, bare = result["audited"], result["bare"]
    extra = audited["trips"] - bare["trips"]
    return [
        {
            "measure": f"approve -> applied in process, {label} (Redis round trips: {r['trips']:.0f})",
            "n": str(int(r["n"])),
            "p50": f"{r['p50']:.1f}",
            "p95": f"{r['p95']:.1f}",
            "result": (f"+{extra:.0f} round trips, 2 records; " if label == "audit log on" else "")
            + f"CPU ms: {r['cpu']:.2f} this thread (p50), {r['redis_cpu']:.2f} Redis (mean)",
            "target": "<= 1 round trip per record" if label == "audit log on" else "",
        }
        for label, r in (("audit log on", audited), ("audit log off", bare))
    ]


def _request(bench: Bench, engine: Engine, n: int) -> str:
    entry = bench.emulator.add_password("audit.cost", name=f"Cost {n}", username="ops", password="pw")
    change = Change(Verb.SHARE, Kind.PASSWORD, entry, add_users=(UserShare("audit.grantee"),))
    return engine.submit(change, requester=REQUESTER, reason="bench").id


@contextlib.contextmanager
def _audit_off(engine: Engine) -> Iterator[None]:
    """The engine with no audit log: the outbox's mark, its append and every record no-ops
    (`move` too, so that the code before the outbox's one round trip can be measured alike)."""
    saved: list[tuple[Any, str, Callable[..., Any]]] = []
    hooks = [(engine.outbox, n) for n in ("mark", "append", "move") if hasattr(engine.outbox, n)]
    for owner, name in [*hooks, (engine.audit, "record")]:
        saved.append((owner, name, getattr(owner, name)))
        setattr(owner, name, lambda *_, **__: None)
    try:
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="approvals each way")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the emulator's access log
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as stack:
        bench = Bench(Path(folder), stack)
        bench.start_redis()
        bench.start_emulator()
        bench.start_slack()
        services = bench.build_services(bench.bot_env([APPROVER]))
        print("| measure | n | p50 ms | p95 ms | result |\n| --- | --- | --- | --- | --- |")
        for row in rows(bench, services, args.requests):
            print(f"| {row['measure']} | {row['n']} | {row['p50']} | {row['p95']} | {row['result']} |")


if __name__ == "__main__":
    main()
