"""Redis memory per pending request: copies of one real request, made through Slack, stored
with `ApprovalStore.create` under a key prefix of their own."""

from __future__ import annotations

import time
from typing import Any

from app.approvals.store import ApprovalStore
from benchmarks.context import Context, Options
from benchmarks.flows import share_and_wait
from benchmarks.harness import SIGNING_SECRET, Bench
from benchmarks.loadgen import ConnectionClient
from benchmarks.report import log
from benchmarks.table import Row

NAME = "pending"
HELP = "Redis memory per pending request, for 10,000 of them"
#: The key prefix of the pending requests; the sweep rows sweep them next.
PREFIX = "bench-pending"


def run(bench: Bench, context: Context, options: Options) -> list[Row]:
    log(f"pending: {options.pending:,} requests via ApprovalStore.create")
    return [pending_memory(context, template(bench, context), options.pending, PREFIX)]


def template(bench: Bench, context: Context) -> dict:
    """A real pending request, made through Slack, whose fields the bulk copies reuse (made
    once per run: the pending and the sweep rows share it)."""
    if context.template is None:
        fixture = context.fixture
        client = ConnectionClient(context.url, SIGNING_SECRET, bench.slack.response_url)
        user = fixture.users[1]
        request_id, _ = share_and_wait(bench, client, user, fixture.entries[user], fixture.peers[-2])
        client.close()
        services = context.services
        store = ApprovalStore(services.redis, prefix=services.settings.key_prefix)
        fields = services.redis.hgetall(store.request_keys(request_id)[0])
        fields.pop("id", None)
        # The list itself, not its reference: the copies keep it under their own prefix.
        fields["approvers"] = store.approver_lists.read(fields.get("approvers"))
        context.template = fields
    return context.template


def fill(
    context: Context, template: dict, count: int, prefix: str
) -> tuple[ApprovalStore, float, list[tuple[str, str]]]:
    """`count` pending requests under `prefix` via `ApprovalStore.create`, as a slash command
    makes them: with an idempotency key shaped like the Slack one (`slack:{trigger_id}`).
    Returns the store, the time taken and (request id, idempotency key) pairs."""
    store = ApprovalStore(context.services.redis, prefix=prefix)
    users = context.fixture.users
    t0 = time.monotonic()
    now = time.time()
    ttl = int(float(template["expires"]) - float(template["created"]))
    made = []
    for k in range(count):
        created = now + k * 1e-4
        fields = dict(
            template,
            created=repr(created),
            expires=repr(created + ttl),
            requester=users[k % len(users)],
        )
        key = f"slack:{1_000_000 + k}.{int(now)}.0123456789abcdef0123456789abcdef"
        request_id, _ = store.create(
            fields,
            requester=fields["requester"],
            created=created,
            expires=created + ttl,
            idempotency_key=key,
        )
        made.append((request_id, key))
    context.filled.add(prefix)
    return store, time.monotonic() - t0, made


def memory_usage(redis: Any, key: str) -> int:
    return int(redis.execute_command("MEMORY", "USAGE", key, "SAMPLES", "0") or 0)


def pending_memory(context: Context, template: dict, count: int, prefix: str) -> Row:
    """Fill a fresh key prefix, so nothing else is counted; copies of a real pending request."""
    services, fixture = context.services, context.fixture
    redis = services.redis
    redis.execute_command("MEMORY", "PURGE")
    before = int(redis.info("memory")["used_memory"])
    store, took, made = fill(context, template, count, prefix)
    after = int(redis.info("memory")["used_memory"])
    per_request_keys = sum(
        memory_usage(redis, key)
        for request_id, idem in made
        for key in (*store.request_keys(request_id), store.idempotency_key(idem))
    ) / len(made)
    index_keys = [store.index("due"), store.index("open")] + [
        store.user_index(u) for u in fixture.users
    ]
    per_request_index = sum(memory_usage(redis, key) for key in index_keys) / len(made)
    delta = (after - before) / count
    _log_audit_stream(context, count, took, per_request_keys, per_request_index, delta)
    return Row(
        f"{count:,} pending: Redis memory/request",
        "",
        str(count),
        "",
        "",
        "",
        f"{count / took:.0f}",
        f"{per_request_keys + per_request_index:,.0f} B/req (keys {per_request_keys:,.0f} + "
        f"index {per_request_index:,.0f}); used_memory +{delta:,.0f} B/req",
        "(no target)",
    )


def _log_audit_stream(
    context: Context, count: int, took: float, keys: float, index: float, delta: float
) -> None:
    """The progress lines, with the audit stream's bytes per event (not in the row)."""
    redis = context.services.redis
    audit_key = f"{context.services.settings.key_prefix}:audit"
    audit_events = redis.xlen(audit_key)
    audit_bytes = memory_usage(redis, audit_key) / audit_events if audit_events else 0
    log(
        f"  {count} pending: created in {took:.1f}s; keys {keys:.0f} B + indexes "
        f"{index:.0f} B per request; used_memory delta {delta:.0f} B/request"
    )
    log(
        f"  audit stream: {audit_bytes:,.0f} B/event over {audit_events} events (one per "
        "create via Engine.submit; not in the figure above)"
    )
