"""Prometheus metrics an on-call engineer needs, defined once at import (the registry is global).

Label values are bounded: HTTP methods, status codes, verbs and outcomes — never ids or names.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MYSAFE_CALLS = Histogram(
    "mysafe_bot_mysafe_call_seconds",
    "MySafe API calls by method and HTTP status ('error' when no answer came)",
    ["method", "outcome"],
)
TOKEN_FETCHES = Counter(
    "mysafe_bot_token_fetches_total",
    "MySafe OAuth token fetches by HTTP status",
    ["outcome"],
)
REQUESTS = Counter(
    "mysafe_bot_requests_total",
    "Change-request and command events by verb and outcome",
    ["verb", "outcome"],
)
APPROVAL_LATENCY = Histogram(
    "mysafe_bot_approval_seconds",
    "Time from a change request's creation to its final state",
    ["outcome"],
    buckets=(1, 5, 30, 60, 300, 900, 3600, 4 * 3600, 86400, float("inf")),
)
PENDING = Gauge(
    "mysafe_bot_pending_requests",
    "Change requests not yet final, as last counted by the worker",
    multiprocess_mode="livemax",
)
REVIEW_LINES = Gauge(
    "mysafe_bot_review_lines",
    "Lines of each running access review, by decision (undecided, keep, remove, reduce)",
    ["campaign", "decision"],
    multiprocess_mode="livemax",
)
MYSAFE_ERRORS = Counter(
    "mysafe_bot_mysafe_errors_total",
    "MySafe errors by business code (1001…1010) or kind (unavailable, unexpected, credentials)",
    ["code"],
)
SWEEP_LAG = Gauge(
    "mysafe_bot_worker_sweep_lag_seconds",
    "How overdue the oldest due expiry or lease was at the worker's last sweep",
    multiprocess_mode="livemax",
)
HTTP_REQUESTS = Counter(
    "mysafe_bot_http_requests_total",
    "HTTP requests served, by route and status",
    ["route", "status"],
)
#: Each (route, status)'s child of HTTP_REQUESTS, looked up once per process: `labels()`
#: validates and locks on every call, and a count runs on every request. Bounded by the
#: routes times the statuses; a race looks one up twice, the same child.
_HTTP_COUNTERS: dict[tuple[str, int], Counter] = {}


def count_http(route: str, status: int) -> None:
    """One request served: by its route (the rule, never the raw path) and status."""
    counter = _HTTP_COUNTERS.get((route, status))
    if counter is None:
        counter = HTTP_REQUESTS.labels(route=route, status=str(status))
        _HTTP_COUNTERS[(route, status)] = counter
    counter.inc()


RATE_LIMITED = Counter(
    "mysafe_bot_rate_limited_total",
    "Requests refused by a rate limit",
    ["limit"],
)
REVOKES = Counter(
    "mysafe_bot_revokes_total",
    "Ends of time-bound shares by outcome: done, failed (an attempt, retried), given_up, drift "
    "(done, but the entry read back still gives a grantee more)",
    ["outcome"],
)
JOBS_PARKED = Counter(
    "mysafe_bot_jobs_parked_total",
    "Jobs set aside unrun because no configured key opens their body or it is no job "
    "(`mysafe-bot doctor` lists them)",
)
AUDIT_SINK_BACKLOG = Gauge(
    "mysafe_bot_audit_sink_backlog",
    "Audit records a sink has not yet acknowledged, by sink (its URL without secrets)",
    ["sink"],
    multiprocess_mode="livemax",
)
AUDIT_SINK_LAG = Gauge(
    "mysafe_bot_audit_sink_lag_seconds",
    "Age of the oldest audit record a sink has not yet acknowledged (0 when caught up)",
    ["sink"],
    multiprocess_mode="livemax",
)
