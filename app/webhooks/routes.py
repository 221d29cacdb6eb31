"""`POST /webhooks/ticketing`: change requests from a service desk, through the same approval.

The contract (ticket systems script against it): HMAC or, where allowed, a bearer secret; a
strict JSON body; 202 with the new request id, 200 with the same id for an `event_id` seen
before, 401/400/409/413/503 otherwise — and nothing stored for any of those.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import redis
from flask import Blueprint, Response, jsonify, request
from marshmallow import ValidationError as MarshmallowError
from slack_sdk.errors import SlackApiError

from app.foundations import metrics
from app.foundations.errors import (
    BotError,
    CredentialsMissing,
    MySafeError,
    MySafeUnavailable,
    NotPosted,
    PolicyOutOfDate,
)
from app.foundations.ratelimit import RateLimiter
from app.foundations.settings import Settings
from app.i18n import _, speaking
from app.text import inline
from app.webhooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, bearer_matches, verify
from app.webhooks.ticket_schema import MAX_BODY, Ticket, TicketSchema, field_errors

if TYPE_CHECKING:
    from app.ops.runtime import Runtime

log = logging.getLogger(__name__)


def _error(status: int, message: str, **extra: object) -> tuple[Response, int]:
    return jsonify(error=message, **extra), status


def blueprint(runtime: Runtime) -> Blueprint:
    """`POST /webhooks/ticketing` over the process's runtime."""
    bp = Blueprint("webhooks", __name__)

    @bp.post("/webhooks/ticketing")
    def ticketing() -> tuple[Response, int]:
        return _ticketing(runtime)

    return bp


def _ticketing(runtime: Runtime) -> tuple[Response, int]:
    services = runtime.services
    settings = services.settings
    if not settings.webhook_secret:
        return _error(404, "the ticketing webhook is not enabled")
    if (request.content_length or 0) > MAX_BODY:
        return _error(413, f"body over {MAX_BODY // 1024} KiB")
    body = request.get_data(cache=True)
    if len(body) > MAX_BODY:
        return _error(413, f"body over {MAX_BODY // 1024} KiB")
    if not _authorised(settings, body):
        return _error(401, "missing, bad or stale signature")
    try:
        verdict = RateLimiter(
            services.redis,
            prefix=settings.key_prefix,
            name="webhook",
            per_minute=settings.webhook_rate_limit,
        ).hit(_source())
        if not verdict.allowed:
            return _too_many(
                verdict.retry_after,
                f"over {settings.webhook_rate_limit} requests a minute from this source",
            )
        return _intake(body, runtime)
    except redis.RedisError:
        log.warning("webhook: redis unavailable", extra={"event": "webhook.redis_down"})
        return _error(503, "storage unavailable; nothing was stored, send it again later")


def _too_many(retry_after: int, why: str) -> tuple[Response, int]:
    metrics.RATE_LIMITED.labels(limit="webhook").inc()
    response, status = _error(429, f"{why}; nothing was stored")
    response.headers["Retry-After"] = str(retry_after)
    return response, status


def _source() -> str:
    """The sender's address (the client's, behind `MYSAFE_BOT_TRUSTED_PROXIES` proxies)."""
    return request.remote_addr or "unknown"


def _authorised(settings: Settings, body: bytes) -> bool:
    secret = settings.webhook_secret
    if "hmac" in settings.webhook_auth and verify(
        secret, request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER), body
    ):
        return True
    return "token" in settings.webhook_auth and bearer_matches(
        secret, request.headers.get("Authorization")
    )


def _intake(body: bytes, runtime: Runtime) -> tuple[Response, int]:
    services, engine = runtime.services, runtime.engine
    try:
        ticket: Ticket = TicketSchema(callback_hosts=services.settings.callback_hosts).loads(body)
    except MarshmallowError as error:
        return jsonify(errors=field_errors(error.messages)), 400
    except ValueError:
        return jsonify(errors=[{"field": "body", "error": "not valid JSON"}]), 400
    except RecursionError:  # a body nested thousands deep: no ticket looks like that
        return jsonify(errors=[{"field": "body", "error": "nested too deeply"}]), 400
    key = f"ticket:{ticket.event_id}"
    earlier = engine.find(key)
    if earlier is not None:
        return jsonify(request_id=earlier.id, state=earlier.state.value), 200
    try:
        requester = _requester(runtime, ticket)
    except SlackApiError:
        return _error(503, "Slack is unavailable to look up the requester; nothing was stored")
    if requester is None:
        return jsonify(
            errors=[{"field": "requester", "error": "no Slack user matches this requester"}]
        ), 400
    # One person's requests are limited whatever front they come through: a ticket system
    # may not open more for someone than they could open themselves with /mysafe.
    per_person = services.settings.command_rate_limit
    verdict = RateLimiter(
        services.redis,
        prefix=services.settings.key_prefix,
        name="webhook-requester",
        per_minute=per_person,
    ).hit(requester)
    if not verdict.allowed:
        return _too_many(verdict.retry_after, f"over {per_person} requests a minute for this requester")
    try:
        created, new = engine.submit_once(
            ticket.change(),
            requester=requester,
            reason=ticket.reason,
            source="ticket",
            ticket=ticket.reference(),
            idempotency_key=key,
            notify=(),
            emergency=ticket.emergency,
        )
    except CredentialsMissing:
        _ask_to_link(runtime, requester, ticket)
        return _error(
            409, "the requester has not linked a MySafe key; they were asked to run /mysafe login"
        )
    except NotPosted as error:
        return _error(
            503, f"the approvals channel does not take messages ({error.code}); nothing was stored"
        )
    except MySafeUnavailable as error:
        return _error(503, error.describe())
    except PolicyOutOfDate as error:
        return _error(503, f"{error}; send it again")  # another process, in force, takes it
    except MySafeError as error:
        return _error(422, error.in_words(), code=error.code)
    except BotError as error:
        return _error(400, str(error))
    metrics.REQUESTS.labels(verb=ticket.action, outcome="created" if new else "duplicate").inc()
    return jsonify(request_id=created.id, state=created.state.value), 202 if new else 200


def _requester(runtime: Runtime, ticket: Ticket) -> str | None:
    if ticket.requester_slack_id:
        return ticket.requester_slack_id
    client = runtime.slack
    if client is None:
        return None
    try:
        return client.users_lookupByEmail(email=ticket.requester_email)["user"]["id"]
    except SlackApiError as error:
        if error.response.get("error") == "users_not_found":
            return None
        raise


def _ask_to_link(runtime: Runtime, user: str, ticket: Ticket) -> None:
    client = runtime.slack
    if client is None:
        return
    # In the workspace's language (MYSAFE_BOT_LOCALE): this front does not read Slack profiles.
    with speaking(runtime.settings.bot_locale):
        said = _(
            "Ticket {ticket} asks to {verb} MySafe {entry} for you, but you have not linked a "
            "MySafe key. Run `/mysafe login`, then have the ticket sent again."
        ).format(
            ticket=inline(ticket.key),
            verb=_(ticket.action),
            entry=f"{_(ticket.kind.label)} {ticket.identifier}",
        )
    try:
        client.chat_postMessage(channel=user, text=said)
    except SlackApiError as error:
        log.warning(
            "webhook: DM failed",
            extra={"event": "webhook.dm_error", "error": error.response.get("error", "")},
        )
