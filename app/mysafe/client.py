"""The MySafe REST client: every call made as one person, with that person's own key.

`MySafe` is process-wide (the HTTP transport, the settings, the token cache); `MySafe.session_for`
gives a `UserClient` bound to one person's credentials. Transport, auth and endpoints are
separate: `_send` applies auth, the 401 refetch and error mapping; endpoint methods are a few
lines each and return `app.mysafe.models` objects, never a secret value.

Errors follow `mysafe-api.md`: business errors are HTTP 400 with `exception.code`; gateway
failures are `{"message": …}` or plain text; anything unreadable is `UnexpectedAnswer`.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import urllib3
from marshmallow import ValidationError as MarshmallowError

from app.foundations import metrics
from app.foundations.errors import (
    ERROR_CODES,
    CredentialsRejected,
    EntryDisabled,
    MySafeError,
    MySafeUnavailable,
    UnexpectedAnswer,
)
from app.foundations.http_pools import cause
from app.mysafe.models import Entry, Kind, ListItem, WriteResult
from app.mysafe.redact import scrub
from app.mysafe.schemas import (
    CREATE_SCHEMAS,
    SECRET_FIELDS,
    UPDATE_SCHEMAS,
    read_entry,
    read_list,
    validate_body,
)
from app.mysafe.tokens import CachedToken, Credentials, Token, TokenCache
from app.mysafe.transport import Answer, Transport, is_create, time_left

log = logging.getLogger(__name__)

COLLECTIONS = {Kind.PASSWORD: "/api/mysafe/password", Kind.SECRET: "/api/mysafe/secretapi"}
LIST_KEYS = {Kind.PASSWORD: "password_on_list", Kind.SECRET: "api_secret_on_list"}
ENTITY_KEYS = ("password_entity", "api_entity", "api_secret_entity")
LIST_FILTERS = {
    Kind.PASSWORD: ("tag", "name", "username", "url"),
    Kind.SECRET: ("tag", "identifier_code"),
}
#: The secret value a rotation changes, per kind (its digest proves the change landed).
ROTATED_FIELDS = {Kind.PASSWORD: "password", Kind.SECRET: "client_secret"}
NOT_AUTHORIZED = "You are not authorized to access this resource."
_CODE_PREFIX = re.compile(r"^\s*(\d{4})\s*:")
_MAX_MESSAGE = 300


class MySafe:
    """What every call shares: base URL, transport, timeout, token cache."""

    def __init__(
        self,
        *,
        base_url: str,
        transport: Transport,
        tokens: TokenCache,
        timeout: float = 10.0,
        token_path: str = "/api/oauth2/token",
        basic_auth: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.transport = transport
        self.tokens = tokens
        self.timeout = timeout
        self.token_path = token_path
        self.basic_auth = basic_auth

    def session_for(self, user_id: str, credentials: Credentials) -> UserClient:
        return UserClient(self, user_id, credentials)

    def url(self, path: str) -> str:
        return self.base_url + path

    def fetch_token(self, credentials: Credentials) -> Token:
        """`POST {token_path}` with the client-credentials grant; any refusal is the key's fault."""
        form = {"grant_type": "client_credentials"}
        auth = None
        if self.basic_auth:
            auth = (credentials.client_id, credentials.client_secret)
        else:
            form.update(client_id=credentials.client_id, client_secret=credentials.client_secret)
        response = self.http("POST", self.token_path, data=form, auth=auth)
        metrics.TOKEN_FETCHES.labels(outcome=str(response.status_code)).inc()
        body = _json(response)
        token = body.get("access_token") if isinstance(body, dict) else None
        secret = [credentials.client_secret]
        if response.status_code >= 500 and not token:
            raise _unavailable(response, body, "POST", self.token_path, secrets=secret)
        if response.status_code != 200 or not isinstance(token, str) or not token:
            words = _message(body, response, secrets=secret)
            raise CredentialsRejected(
                f"MySafe refused the access key: {words}",
                said=words,
                status=response.status_code,
                method="POST",
                path=self.token_path,
            )
        try:
            expires_in = int(body.get("expires_in") or 3600)
        except (TypeError, ValueError):
            expires_in = 3600
        return Token(token, expires_in)

    def http(self, method: str, path: str, **kwargs: Any) -> Answer:
        """One HTTP exchange; urllib3's errors become `MySafeUnavailable` here and only here."""
        started = time.perf_counter()
        outcome = "error"
        timeout = self._timeout(method, path)
        try:
            response = self.transport.request(method, self.url(path), timeout=timeout, **kwargs)
            outcome = str(response.status_code)
            return response
        except (urllib3.exceptions.HTTPError, OSError) as error:
            failed = cause(error)
            if _timed_out(failed):
                raise MySafeUnavailable(
                    _timeout_message(method, path), method=method, path=path
                ) from error
            raise MySafeUnavailable(
                f"cannot reach MySafe ({type(failed).__name__})", method=method, path=path
            ) from error
        finally:
            metrics.MYSAFE_CALLS.labels(method=method, outcome=outcome).observe(
                time.perf_counter() - started
            )

    def _timeout(self, method: str, path: str) -> float:
        """The per-call timeout, cut to what is left of the thread's deadline (see
        `app.mysafe.transport.deadline`); no time left means the call is not made at all."""
        left = time_left()
        if left is None:
            return self.timeout
        if left <= 0.05:
            raise MySafeUnavailable(
                "no time left for this call before the apply's lease ends", method=method, path=path
            )
        return min(self.timeout, left)


def _timed_out(cause: BaseException) -> bool:
    """A connect or a read that ran out of time. urllib3 files a refused connection
    (`NewConnectionError`) under connect timeouts: MySafe did not answer late, it could not
    be reached."""
    timeout = isinstance(cause, TimeoutError | urllib3.exceptions.TimeoutError)
    return timeout and not isinstance(cause, urllib3.exceptions.NewConnectionError)


def _timeout_message(method: str, path: str) -> str:
    if is_create(method, path):
        return "MySafe did not answer in time; the entry may have been created: check before retrying"
    return "MySafe did not answer in time"


class UserClient:
    """MySafe as one person: their token, their permissions."""

    def __init__(self, mysafe: MySafe, user_id: str, credentials: Credentials) -> None:
        self.mysafe = mysafe
        self.user_id = user_id
        self.credentials = credentials
        #: The token this client last used: its next call uses it again without reading the
        #: cache (a Redis read and a decrypt per call); a 401 replaces it as before.
        self._held: CachedToken | None = None

    # --- endpoints -------------------------------------------------------------------------

    def list_entries(self, kind: Kind, **filters: str) -> list[ListItem]:
        """`GET /api/mysafe/password` or `/api/mysafe/secretapi`, with the kind's filters."""
        params = {k: v for k, v in filters.items() if k in LIST_FILTERS[kind] and v}
        body = self._call("GET", COLLECTIONS[kind], params=params)
        items = body.get(LIST_KEYS[kind], [])
        return _read(lambda: read_list(kind, items or []), "GET", COLLECTIONS[kind])

    def get(self, kind: Kind, identifier: int) -> Entry:
        """`GET /api/mysafe/{password|secretapi}/{identifier}`."""
        path = f"{COLLECTIONS[kind]}/{_ident(identifier)}"
        return self._entity(kind, self._call("GET", path), "GET", path)

    def read(self, kind: Kind, identifier: int) -> Entry:
        """`get`, except that a disabled entry (1009) is `Entry.disabled` instead of an error:
        for the verbs that act on an entry's state, disabled is an answer, not a refusal."""
        try:
            return self.get(kind, identifier)
        except EntryDisabled:
            return Entry.disabled(kind, identifier)

    def secret_digest(self, kind: Kind, identifier: int) -> str:
        """SHA-256 (hex) of the password (or client secret) MySafe holds now, "" when there is
        none: `GET /api/mysafe/{password|secretapi}/{identifier}`. A rotation is proven by
        comparing digests, so the value itself is hashed here and goes no further."""
        path = f"{COLLECTIONS[kind]}/{_ident(identifier)}"
        body = self._call("GET", path)
        entity: dict[str, Any] = next(
            (body[k] for k in ENTITY_KEYS if isinstance(body.get(k), dict)), {}
        )
        value = entity.get(ROTATED_FIELDS[kind])
        return digest(str(value)) if value else ""

    def create(self, kind: Kind, fields: Mapping[str, Any]) -> WriteResult:
        """`POST /api/mysafe/{password|secretapi}`; never retried (it could duplicate)."""
        body = validate_body(CREATE_SCHEMAS[kind], dict(fields))
        return self._outcome(kind, "POST", COLLECTIONS[kind], json=body)

    def update(self, kind: Kind, identifier: int, fields: Mapping[str, Any]) -> WriteResult:
        """`PUT …/update/{identifier}`: sharing lists given here replace MySafe's whole list."""
        body = validate_body(UPDATE_SCHEMAS[kind], dict(fields))
        return self._outcome(kind, "PUT", f"{COLLECTIONS[kind]}/update/{_ident(identifier)}", json=body)

    def disable(self, kind: Kind, identifier: int) -> WriteResult:
        """`POST …/inactive/{identifier}`."""
        return self._outcome(kind, "POST", f"{COLLECTIONS[kind]}/inactive/{_ident(identifier)}")

    def enable(self, kind: Kind, identifier: int) -> WriteResult:
        """`POST …/active/{identifier}`."""
        return self._outcome(kind, "POST", f"{COLLECTIONS[kind]}/active/{_ident(identifier)}")

    def check(self) -> None:
        """Prove the key works by fetching a fresh token (used when a key is linked)."""
        self._token(force=True)

    # --- plumbing --------------------------------------------------------------------------

    def _outcome(self, kind: Kind, method: str, path: str, **kwargs: Any) -> WriteResult:
        body = self._call(method, path, **kwargs)
        entry = None
        if any(isinstance(body.get(key), dict) for key in ENTITY_KEYS):
            entry = self._entity(kind, body, method, path)
        return WriteResult(
            message=_message(body, secrets=self._secrets(kwargs.get("json"))),
            entry=entry,
            shared_error=entry.shared_error if entry else (),
        )

    def _secrets(self, body: Any) -> list[str]:
        """Every secret value a call carries: the body's secret fields and the person's key."""
        sent = (
            [str(v) for k, v in (body or {}).items() if k in SECRET_FIELDS and v]
            if isinstance(body, dict)
            else []
        )
        return [*sent, self.credentials.client_secret]

    def _entity(self, kind: Kind, body: dict[str, Any], method: str, path: str) -> Entry:
        entity = next((body[k] for k in ENTITY_KEYS if isinstance(body.get(k), dict)), None)
        if entity is None:
            raise UnexpectedAnswer(
                "MySafe's answer has no entry in it", method=method, path=path, status=200
            )
        return _read(lambda: read_entry(kind, entity), method, path)

    def _token(self, *, force: bool = False, failed: str | None = None) -> CachedToken:
        """The person's token: cached, or fetched by exactly one caller at a time.

        `failed` is the stored form of a token MySafe just refused: a cached token other than
        that one (another thread's fresh fetch) is used rather than fetching yet another."""
        held = self._held
        if not force and held is not None and held.stored != failed:
            return held
        self._held = self._cached_or_fetched(force=force, failed=failed)
        return self._held

    def _cached_or_fetched(self, *, force: bool, failed: str | None) -> CachedToken:
        cache = self.mysafe.tokens
        if not force and (cached := cache.get(self.user_id)) and cached.stored != failed:
            return cached
        with cache.single_flight(self.user_id):
            if not force and (cached := cache.get(self.user_id)) and cached.stored != failed:
                return cached
            token = self.mysafe.fetch_token(self.credentials)
            kept = cache.put(self.user_id, token, client_id=self.credentials.client_id)
            return kept or CachedToken(token.access_token, "")

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """Send with a bearer token; on a 401, drop that token, get a fresh one, replay once.
        Any words MySafe answers with lose this call's own secret values first."""
        secrets = self._secrets(kwargs.get("json"))
        token = self._token()
        response = self._send(method, path, token.access_token, **kwargs)
        if _unauthorised(response):
            self.mysafe.tokens.drop(self.user_id, stored=token.stored)
            token = self._token(failed=token.stored)
            response = self._send(method, path, token.access_token, **kwargs)
            if _unauthorised(response):
                self.mysafe.tokens.drop(self.user_id, stored=token.stored)
                words = _message(_json(response), response, secrets=secrets)
                raise CredentialsRejected(
                    f"MySafe does not accept this key's token: {words}",
                    said=words,
                    status=response.status_code,
                    method=method,
                    path=path,
                )
        return _envelope(response, method, path, secrets=secrets)

    def _send(self, method: str, path: str, token: str, **kwargs: Any) -> Answer:
        headers = {"Authorization": f"Bearer {token}"}
        return self.mysafe.http(method, path, headers=headers, **kwargs)


def digest(value: str) -> str:
    """The SHA-256 (hex) a secret value is compared by: the value is never kept or logged."""
    return hashlib.sha256(value.encode()).hexdigest()


def _ident(identifier: int | str) -> str:
    return quote(str(identifier), safe="")


def _read(load: Any, method: str, path: str) -> Any:
    try:
        return load()
    except MarshmallowError as error:
        fields = (
            ", ".join(sorted(str(k) for k in error.messages_dict))
            if isinstance(error.messages, dict)
            else "body"
        )
        raise UnexpectedAnswer(
            f"MySafe's answer does not have the expected shape ({fields})", method=method, path=path
        ) from None


def _json(response: Answer) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _unauthorised(response: Answer) -> bool:
    if response.status_code == 401:
        return True
    if response.status_code == 403:
        return NOT_AUTHORIZED.lower() in _message(_json(response), response).lower()
    return False


def _message(body: Any, response: Answer | None = None, *, secrets: Sequence[str] = ()) -> str:
    """MySafe's words: `message`, then `Message`, then `mensagem`; or the gateway's text.

    They are untrusted free text that may quote the request: `secrets` (the call's own secret
    values) are removed before the text is shortened, so no cut can leave part of one."""
    candidates: list[Any] = []
    if isinstance(body, dict):
        inner: dict[str, Any] = body["response"] if isinstance(body.get("response"), dict) else {}
        candidates += [inner.get("message"), inner.get("Message"), inner.get("mensagem")]
        exception: dict[str, Any] = body["exception"] if isinstance(body.get("exception"), dict) else {}
        candidates += [
            exception.get("message"),
            body.get("message"),
            body.get("Message"),
            body.get("error_description"),
            body.get("error"),
        ]
    elif response is not None and response.text:
        candidates.append(response.text)
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip():
            return _clean(scrub(candidate, secrets))
    if response is not None:
        return f"HTTP {response.status_code} {response.reason or ''}".strip()
    return ""


def _clean(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + "…"


def _business_code(body: dict[str, Any]) -> int | None:
    exception = body.get("exception")
    if isinstance(exception, dict):
        try:
            return int(exception.get("code") or "")
        except (TypeError, ValueError):
            pass
    match = _CODE_PREFIX.match(_message(body))
    return int(match.group(1)) if match else None


def _envelope(
    response: Answer, method: str, path: str, *, secrets: Sequence[str] = ()
) -> dict[str, Any]:
    """Return the JSON body of a success, or raise the error it stands for."""
    body = _json(response)
    status = response.status_code
    inner = body.get("response") if isinstance(body, dict) else None
    failed = isinstance(inner, dict) and inner.get("error") in (True, 1, "1", "true")
    if 200 <= status < 300 and isinstance(body, dict) and not failed:
        return body
    if isinstance(body, dict) and (status == 400 or failed):
        code = _business_code(body)
        error_class = ERROR_CODES.get(code or 0, MySafeError)
        metrics.MYSAFE_ERRORS.labels(code=str(code or "business")).inc()
        raise error_class(
            _message(body, response, secrets=secrets),
            code=code,
            status=status,
            method=method,
            path=path,
        )
    if status in (429, 500, 502, 503, 504):
        metrics.MYSAFE_ERRORS.labels(code="unavailable").inc()
        raise _unavailable(response, body, method, path, secrets=secrets)
    metrics.MYSAFE_ERRORS.labels(code="unexpected").inc()
    if 200 <= status < 300:
        raise UnexpectedAnswer(
            "MySafe answered with something that is not JSON", status=status, method=method, path=path
        )
    hint = " (check MYSAFE_URL)" if status == 404 else ""
    raise UnexpectedAnswer(
        f"{_message(body, response, secrets=secrets)}{hint}", status=status, method=method, path=path
    )


def _unavailable(
    response: Answer, body: Any, method: str, path: str, *, secrets: Sequence[str] = ()
) -> MySafeUnavailable:
    words = _message(body, response, secrets=secrets)
    return MySafeUnavailable(
        f"MySafe is unavailable: {words}",
        said=words,
        status=response.status_code,
        method=method,
        path=path,
    )
