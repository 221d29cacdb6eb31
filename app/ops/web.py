"""Operational routes: liveness, readiness and metrics."""

from __future__ import annotations

import contextlib

import redis
from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.ops.sibling import not_ready as mcp_not_ready
from app.services import Services

bp = Blueprint("web", __name__)


@bp.after_app_request
def count(response: Response) -> Response:
    """Requests by route (the rule, never the raw path: ids would make labels unbounded)."""
    from flask import request

    from app.metrics import HTTP_REQUESTS

    route = request.url_rule.rule if request.url_rule else "unmatched"
    HTTP_REQUESTS.labels(route=route, status=str(response.status_code)).inc()
    return response


def services() -> Services:
    return current_app.extensions["mysafe_bot"]


@bp.get("/healthz")
def healthz() -> Response:
    """Liveness: the process serves. Deliberately checks nothing else."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Readiness: 200 only when Redis answers and, with Socket Mode, Slack's connection is up
    (the bot hears nothing from Slack before), so a load balancer stops sending otherwise."""
    try:
        services().redis.ping()
    except redis.RedisError as error:
        return jsonify(status="unavailable", reason=f"redis: {type(error).__name__}"), 503
    socket_mode = current_app.extensions.get("mysafe_bot_socket")
    missing = socket_mode.not_ready() if socket_mode is not None else None
    missing = missing or mcp_not_ready()
    if missing:
        return jsonify(status="unavailable", reason=missing), 503
    return jsonify(status="ready"), 200


@bp.get("/metrics")
def metrics() -> Response:
    from app.ops.metrics_export import registry

    engine = current_app.extensions.get("mysafe_bot_engine")
    if engine is not None:
        # On a Redis outage the gauges keep their last value; /readyz reports the outage.
        with contextlib.suppress(redis.RedisError):
            engine.measure()
    return Response(generate_latest(registry()), mimetype=CONTENT_TYPE_LATEST)
