"""10,000 time-bound shares past their end, revoked by one worker process's `Revoker`, with
every MySafe call it made."""

from __future__ import annotations

import time

from app.approvals.change_diff import NO_ACCESS, USERS, VIEW
from app.approvals.change_request import ChangeRequest, new_request_id
from app.approvals.changes import Change, Verb
from app.approvals.grants import Grant, Granted
from app.approvals.machine import State
from app.approvals.revokes import RevokeStore
from app.mysafe.models import Kind, UserShare
from benchmarks import harness
from benchmarks.context import Context, Options
from benchmarks.harness import Bench
from benchmarks.report import log
from benchmarks.table import Row

NAME = "revokes"
HELP = "10,000 due time-bound shares revoked by Revoker.sweep"


def run(bench: Bench, context: Context, options: Options) -> list[Row]:
    log(f"revokes: {options.revokes:,} due time-bound shares, Revoker.sweep(now=far future)")
    return [revoke_row(bench, context, options.revokes)]


def revoke_row(
    bench: Bench, context: Context, count: int, *, per_entry: int = 100, limit: int = 500
) -> Row:
    """`count` time-bound shares already past their end, `per_entry` grantees on each of
    `count / per_entry` passwords (so each revoke finds its grantee and writes), then one
    worker process sweeps them; every MySafe call the emulator received is counted. Under
    the bot's own key prefix: the revokes use the owners' linked keys."""
    ids = schedule(bench, context, count, per_entry)
    bench.emulator.reset_calls()
    job = {"env": context.env, "limit": limit, "ids": ids}
    result = harness.run_json("revoker.py", job, timeout=1800)
    calls = {m: len(bench.emulator.calls_to(m, "/")) for m in ("GET", "PUT", "POST")}
    log(f"  revokes: {result}; MySafe calls {calls}")
    total = sum(calls.values())
    states = ", ".join(f"{k} {v:,}" for k, v in sorted(result["states"].items()))
    return Row(
        f"revoke {count:,} due: Revoker",
        "",
        str(result["handled"]),
        "",
        "",
        "",
        f"{result['handled'] / result['seconds']:.0f}",
        f"{result['seconds']:.1f} s ({result['cpu_seconds']:.1f} s CPU); MySafe calls "
        f"{total:,} = {total / max(result['handled'], 1):.2f} each (GET {calls['GET']:,}, "
        f"PUT {calls['PUT']:,}, token {calls['POST']:,}); {states}",
        "1 PUT each, all done",
    )


def schedule(bench: Bench, context: Context, count: int, per_entry: int) -> list[str]:
    """The shares, made in the emulator and scheduled to end two minutes ago; their ids."""
    fixture = context.fixture
    store = RevokeStore(context.services.redis, prefix=context.services.settings.key_prefix)
    ids: list[str] = []
    taken: set[str] = set()
    ended = time.time() - 120
    for e in range(-(-count // per_entry)):
        owner = fixture.users[e % len(fixture.users)]
        names = [f"tb{e:03d}x{j:03d}" for j in range(min(per_entry, count - e * per_entry))]
        for name in names:
            bench.emulator.add_user(name)
        entry = bench.emulator.add_password(
            fixture.usernames[owner],
            name=f"Time-bound {e:03d}",
            username="svc",
            password=f"Bench-Tb-{e:03d}",
            users_allowed=[{"username": n} for n in names],
        )
        for name in names:
            request = ChangeRequest(
                id=_fresh_id(taken),
                state=State.APPLIED,
                requester=owner,
                requester_name=fixture.usernames[owner],
                created=ended - 60,
                expires=ended + 86400,
                required=1,
                entry_name=f"Time-bound {e:03d}",
                change=Change(
                    Verb.SHARE, Kind.PASSWORD, entry, add_users=(UserShare(name),), duration=60
                ),
            )
            store.schedule(request, Grant((Granted(USERS, name, NO_ACCESS, VIEW),)), now=ended - 60)
            ids.append(request.id)
    return ids


def _fresh_id(taken: set[str]) -> str:
    """A request id not among `taken`, then taken: among thousands of ids a repeat is likely,
    and one record would then stand for two revokes."""
    request_id = new_request_id()
    while request_id in taken:
        request_id = new_request_id()
    taken.add(request_id)
    return request_id
