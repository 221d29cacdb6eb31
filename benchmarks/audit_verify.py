"""`audit verify`'s throughput: a synthetic signed export of N records (default 1,000,000, a
checkpoint every 10,000) verified in this process; prints records/s and peak memory.

    .venv/bin/python -m benchmarks.audit_verify [--records N] [--previous]
    .venv/bin/python -m benchmarks.audit_verify --export N

`--previous` also times the proof that the export extends its first half. `--export N`
instead appends N records to an embedded Redis (pipelined), signs them and times the export.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.audit.verify import verify_extends, verify_file
from tests.support.audit_export import write_export


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--previous", action="store_true")
    parser.add_argument("--export", type=int, default=0, metavar="N")
    args = parser.parse_args()
    if args.export:
        export_run(args.export)
        return
    key = Ed25519PrivateKey.generate()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.jsonl"
        write_export(path, args.records, key)
        size = path.stat().st_size
        started = time.perf_counter()
        summary = verify_file(path, key.public_key())
        took = time.perf_counter() - started
        print(
            f"verify: {summary.size:,} records ({size / 1e6:.0f} MB) in {took:.1f} s = "
            f"{summary.size / took:,.0f} records/s"
        )
        if args.previous:
            half = Path(folder) / "half.jsonl"
            write_export(half, args.records // 2, key)
            old = verify_file(half, key.public_key())
            started = time.perf_counter()
            new = verify_file(path, key.public_key(), snapshot_at=old.size)
            verify_extends(path, half, old, new)
            print(
                f"verify --previous (the later pass and the proof): "
                f"{time.perf_counter() - started:.1f} s"
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process: {peak:.0f} MB")


def export_run(records: int) -> None:
    """Append, sign, then export to /dev/null from a fresh embedded Redis."""
    import os

    from app.approvals.audit import Audit
    from app.audit.checkpointer import BATCH, Checkpointer
    from app.audit.export import export
    from app.audit.formats import jsonl_line
    from app.foundations.storage import connect, stop_server
    from benchmarks.harness import quiet_redis

    key = Ed25519PrivateKey.generate()
    with tempfile.TemporaryDirectory() as folder:
        server = quiet_redis(Path(folder) / "bench.db")
        redis = connect(f"unix://{server.socket_file}")
        audit = Audit(redis, prefix="bench")
        for start in range(0, records, 10_000):
            pipe = redis.pipeline(transaction=False)
            for n in range(start, min(records, start + 10_000)):
                audit.record("request.applying", request=f"R-{n:07d}", actor="U0A", pipe=pipe)
            pipe.execute()
        signer = Checkpointer(
            redis, prefix="bench", key=lambda: key, every=0, retention=86400, maxlen=records
        )
        for _ in range(0, records, BATCH):
            signer.checkpoint()
        started = time.perf_counter()
        with open(os.devnull, "wb") as out:
            count = sum(out.write(jsonl_line(item)) > 0 for item in export(redis, prefix="bench"))
        took = time.perf_counter() - started
        print(f"export: {count:,} lines in {took:.1f} s = {records / took:,.0f} records/s")
        stop_server(server, save=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process: {peak:.0f} MB")


if __name__ == "__main__":
    main()
