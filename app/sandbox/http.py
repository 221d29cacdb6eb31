"""The MySafe emulator over HTTP: Flask routes with the vendor's envelope, errors and quirks.

It follows `mysafe-api.md`, quirks included: the envelope with Portuguese twins, numbers as
strings, business errors as HTTP 400 with the real code in `exception.code`, gateway-style
401/404 bodies. `EmulatorServer` runs it on a loopback port from a daemon thread.
"""

from __future__ import annotations

import random
import time
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request

from app.sandbox.keep_alive import LoopbackServer
from app.sandbox.state import (
    GATEWAY_MESSAGES,
    NO_ROUTE,
    RESOURCES,
    SECRET,
    SECRET_UPDATE_MESSAGES,
    UNAUTHORIZED,
    BusinessError,
    Call,
    Emulator,
    Fault,
)

bp = Blueprint("mysafe_emulator", __name__)
RESOURCE = "/api/mysafe/<any(password, secretapi):resource>"


def _emulator() -> Emulator:
    return current_app.extensions["mysafe_emulator"]


def _bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _recorded_form() -> dict[str, str] | None:
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return request.form.to_dict()
    return None


@bp.before_app_request
def _intercept() -> Any:
    """Record the call, then let a queued fault win, then demand a token under /api/mysafe."""
    emulator = _emulator()
    user, valid = emulator.authenticate(_bearer_token())
    body = request.get_json(force=True, silent=True)  # caches the data, so form still parses
    emulator.record(Call(request.method, request.path, user, body, _recorded_form()))
    low, high = emulator.options.latency
    if high > 0 and request.path.startswith("/api/"):
        time.sleep(random.uniform(low, high))  # noqa: S311 - jitter, not a secret
    fault = emulator.take_fault(request.method, request.path)
    if fault and fault.gate is not None:
        fault.gate.wait_open()
    if fault and fault.delay > 0:
        time.sleep(fault.delay)
    if fault and fault.status:
        return _fault_response(fault)
    if request.url_rule is not None and request.path.startswith("/api/mysafe/") and not valid:
        return jsonify(message=UNAUTHORIZED), 401
    g.mysafe_user = user
    return None


def _fault_response(fault: Fault) -> Any:
    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
    if fault.echo:
        quoted = request.get_data(as_text=True)
        if fault.status == 400:
            return jsonify(
                response={"status": 400, "message": f"1001: invalid body {quoted}", "error": True},
                exception={"code": 1001, "message": f"invalid {quoted}"},
            ), 400
        return Response(
            f"upstream failed on {request.path}?{quoted} ({request.args})",
            fault.status,
            mimetype="text/plain",
            headers=headers,
        )
    if isinstance(fault.body, dict):
        return jsonify(fault.body), fault.status, headers
    if fault.body is None and fault.status in GATEWAY_MESSAGES:
        return jsonify(message=GATEWAY_MESSAGES[fault.status]), fault.status, headers
    return Response(fault.body or "", fault.status, mimetype="text/plain", headers=headers)


def _envelope(
    status: int,
    message: str,
    entities: dict[str, Any],
    *,
    error: bool = False,
    both_cases: bool = False,
) -> Any:
    """Wrap entities in the vendor's bilingual `response` block, honouring the options."""
    options = _emulator().options
    block: dict[str, Any] = {"status": status}
    if options.capital_message:
        block["Message"] = message
    else:
        block["message"] = message
        if both_cases:
            block["Message"] = message
    block |= {"error": error, "error_code": int(error), "detail": ""}
    if not options.capital_message:
        block["mensagem"] = message
    block |= {"erro": error, "cod_erro": int(error)}
    payload = {} if options.omit_code else {"code": status}
    return jsonify(payload | {"response": block} | entities), status


@bp.app_errorhandler(BusinessError)
def _business_error(exc: BusinessError) -> Any:
    exception = {"code": exc.code, "message": str(exc), "detail": None}
    return _envelope(400, str(exc), {"exception": exception}, error=True)


@bp.app_errorhandler(404)
def _no_route(_exc: Exception) -> Any:
    return jsonify(message=NO_ROUTE), 404


@bp.app_errorhandler(405)
def _method_not_allowed(_exc: Exception) -> Any:
    return jsonify(message="Method not allowed"), 405


@bp.app_errorhandler(500)
def _unexpected(_exc: Exception) -> Any:
    return jsonify(message=GATEWAY_MESSAGES[500]), 500


def _identifier(raw: str) -> int:
    if not raw.isdigit():
        raise BusinessError(1010, "Unexpected identifier type")
    return int(raw)


def _body() -> dict[str, Any]:
    """Parse the body whatever its content type, as the vendor's PHP does; none means {}."""
    if not request.get_data():
        return {}
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise BusinessError(1001, "Invalid JSON")
    return body


def _client_credentials(basic_auth: bool) -> tuple[str | None, str | None]:
    """Older installs read only the Basic header; the others only the form body."""
    if not basic_auth:
        return request.form.get("client_id"), request.form.get("client_secret")
    auth = request.authorization
    if auth is None or auth.type != "basic":
        return None, None
    return auth.username, auth.password


def token_view() -> Any:
    """OAuth 2.0 client credentials; the error shape is undocumented, this one is plausible."""
    emulator = _emulator()
    if request.form.get("grant_type") != "client_credentials":
        return jsonify(error="unsupported_grant_type", message="Unsupported grant type"), 400
    token = emulator.issue_token(*_client_credentials(emulator.options.basic_auth))
    if token is None:
        return jsonify(error="invalid_client", message="Invalid client credentials"), 401
    token_type = "bearer" if emulator.options.lowercase_token_type else "Bearer"
    return jsonify(
        token_type=token_type, expires_in=emulator.options.token_lifetime, access_token=token
    )


@bp.get(RESOURCE)
def list_entries(resource: str) -> Any:
    kind = RESOURCES[resource]
    items = _emulator().api_list(kind, g.mysafe_user, request.args)
    return _envelope(200, "Success", {kind.list_key: items})


@bp.get(f"{RESOURCE}/<ident>")
def get_entry(resource: str, ident: str) -> Any:
    kind = RESOURCES[resource]
    entity = _emulator().api_get(kind, g.mysafe_user, _identifier(ident))
    return _envelope(200, "Success", {kind.get_key: entity}, both_cases=True)


@bp.post(RESOURCE)
def create_entry(resource: str) -> Any:
    kind = RESOURCES[resource]
    entity = _emulator().api_create(kind, g.mysafe_user, _body())
    return _envelope(201, f"{kind.label} successfully registered", {kind.write_key: entity})


@bp.put(f"{RESOURCE}/update/<ident>")
def update_entry(resource: str, ident: str) -> Any:
    kind, emulator = RESOURCES[resource], _emulator()
    identifier, body = _identifier(ident), _body()
    entity = emulator.api_update(kind, g.mysafe_user, identifier, body)
    status, message = 200, "Password successfully updated"
    if kind is SECRET:
        status = emulator.options.secret_update_status
        message = SECRET_UPDATE_MESSAGES.get(status, "Api secret updated successfully")
    return _envelope(status, message, {kind.write_key: entity})


@bp.post(f"{RESOURCE}/<any(active, inactive):action>/<ident>")
def set_active(resource: str, action: str, ident: str) -> Any:
    kind = RESOURCES[resource]
    message = _emulator().api_set_active(kind, g.mysafe_user, _identifier(ident), action == "active")
    return _envelope(200, message, {})


def create_emulator_app(emulator: Emulator) -> Flask:
    """Build the Flask app serving `emulator`; the token path comes from its options."""
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the vendor's key order
    app.extensions["mysafe_emulator"] = emulator
    app.register_blueprint(bp)
    app.add_url_rule(emulator.options.token_path, "token", token_view, methods=["POST"])
    return app


class EmulatorServer:
    """Serve an emulator on a loopback port from a daemon thread, keeping connections open
    between requests as MySafe's own server does (`app.sandbox.keep_alive`)."""

    def __init__(self, emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = emulator
        self._server = LoopbackServer(create_emulator_app(emulator), host, port, name="mysafe-emulator")

    @property
    def url(self) -> str:
        """The base URL without a trailing slash; the port is only known once started."""
        return self._server.url

    def start(self) -> EmulatorServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
