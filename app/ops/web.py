"""Operational routes: liveness, readiness and metrics, over the process's runtime."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import redis
from flask import Blueprint, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.foundations.metrics import count_http
from app.ops.sibling import not_ready as mcp_not_ready

if TYPE_CHECKING:
    from app.ops.runtime import Runtime


def blueprint(runtime: Runtime) -> Blueprint:
    bp = Blueprint("web", __name__)

    @bp.after_app_request
    def count(response: Response) -> Response:
        """Requests by route (the rule, never the raw path: ids would make labels unbounded)."""
        count_http(request.url_rule.rule if request.url_rule else "unmatched", response.status_code)
        return response

    @bp.get("/healthz")
    def healthz() -> Response:
        """Liveness: the process serves. Deliberately checks nothing else."""
        return jsonify(status="ok")

    @bp.get("/readyz")
    def readyz() -> tuple[Response, int]:
        """Readiness: 200 only when Redis answers, this process's policy is the deployment's
        rules in force (else it decides nothing), Slack's Socket Mode connection is up (when
        used), the job consumer's loop goes round (when this process runs jobs) and the MCP
        sibling answers (when serve runs one): a load balancer stops sending otherwise."""
        try:
            runtime.services.redis.ping()
            missing = _policy_not_in_force(runtime)
        except redis.RedisError as error:
            return jsonify(status="unavailable", reason=f"redis: {type(error).__name__}"), 503
        missing = missing or _front_not_ready(runtime) or mcp_not_ready()
        if missing:
            return jsonify(status="unavailable", reason=missing), 503
        return jsonify(status="ready"), 200

    @bp.get("/metrics")
    def metrics() -> Response:
        from app.ops.metrics_export import registry

        # On a Redis outage the gauges keep their last value; /readyz reports the outage.
        with contextlib.suppress(redis.RedisError):
            runtime.engine.measure()
            if runtime.reviews is not None:
                runtime.reviews.measure()
        return Response(generate_latest(registry()), mimetype=CONTENT_TYPE_LATEST)

    return bp


def _front_not_ready(runtime: Runtime) -> str | None:
    """What of the Slack front in this process does not work: its Socket Mode connection, or
    the job consumer it runs (MYSAFE_BOT_WEB_JOBS): acks that no loop here would ever work."""
    front = runtime.front
    if front is None:
        return None
    consumer = runtime.jobs.consumer if runtime.jobs is not None else None
    return front.not_ready() or (consumer.not_ready() if consumer is not None else None)


def _policy_not_in_force(runtime: Runtime) -> str | None:
    """Why this process decides nothing: its rules are not the deployment's in force."""
    why = runtime.engine.in_force.not_in_force()
    return f"policy: {why}" if why else None
