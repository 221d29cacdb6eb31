"""The MySafe emulator's state and behaviour: users, keys, groups, entries and their rules.

`Emulator` holds one installation behind one lock and answers as the vendor does, raising
`BusinessError` exactly where MySafe answers a 4-digit code (see `mysafe-api.md`). It knows no
HTTP: `app.sandbox.http` serves it, and tests drive both.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

UNAUTHORIZED = "You are not authorized to access this resource."
NO_ROUTE = "No route matched with those values"
GATEWAY_MESSAGES = {
    500: "Unexpected error.",
    502: "An invalid response was received from the upstream server",
    503: "The upstream server is currently unavailable",
    504: "The upstream server is timing out",
}
# v4 answers a secret update like a create; v3 has its own wording.
SECRET_UPDATE_MESSAGES = {201: "Api secret successfully registered"}
TOTP_STEP = 30


@dataclass
class EmulatorOptions:
    """Switches for the variants that real installations show."""

    token_path: str = "/api/oauth2/token"
    basic_auth: bool = False
    token_lifetime: int = 3600
    lowercase_token_type: bool = False
    capital_message: bool = False
    omit_code: bool = False
    secret_update_status: int = 201
    sharing_key_variants: bool = True
    #: A key has one live token at a time: issuing a new one revokes the key's older tokens
    #: (some installations do this; it punishes clients that fetch tokens in parallel).
    one_token_per_key: bool = False
    #: Every answer under /api waits a random time in this range (seconds): a slow MySafe,
    #: to widen race windows in tests.
    latency: tuple[float, float] = (0.0, 0.0)


@dataclass
class Call:
    """One request as received, so tests can count token fetches and writes."""

    method: str
    path: str
    user: str | None
    json: Any
    form: dict[str, str] | None


@dataclass
class Gate:
    """A call held in the emulator until the test lets it go: `arrived` is set when the call
    is in, and the answer waits for `release()` — races timed by events, not by sleeps."""

    arrived: threading.Event = field(default_factory=threading.Event)
    _open: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self._open.set()

    def wait_open(self, timeout: float = 30.0) -> None:
        self.arrived.set()
        self._open.wait(timeout)


@dataclass
class Fault:
    """A queued answer that overrides normal behaviour for matching requests."""

    status: int
    body: str | dict[str, Any] | None
    method: str | None
    path_prefix: str | None
    times: int
    delay: float
    retry_after: int | None = None
    gate: Gate | None = None
    #: Answer with the request's own body quoted in the error (what a careless gateway or a
    #: 1001 that repeats its input does): 400 as a 1001, any other status as plain text.
    echo: bool = False

    def matches(self, method: str, path: str) -> bool:
        """Match on method (any case) and path prefix; None matches everything."""
        if self.method and self.method.upper() != method.upper():
            return False
        return not self.path_prefix or path.startswith(self.path_prefix)


@dataclass
class Entry:
    """A stored password or API secret; sharing maps name -> can_edit."""

    identifier: int
    owner: str
    fields: dict[str, str | None]
    users: dict[str, bool] = field(default_factory=dict)
    groups: dict[str, bool] = field(default_factory=dict)
    active: bool = True


@dataclass(frozen=True)
class Kind:
    """What differs between passwords and API secrets on the wire."""

    name: str
    label: str
    inactive_text: str
    fields: tuple[str, ...]
    required: tuple[str, ...]
    filters: Mapping[str, str]
    list_key: str
    list_names: tuple[str, ...]
    get_key: str
    get_names: tuple[str, ...]
    write_key: str
    write_names: tuple[str, ...]
    # Sharing item keys the vendor uses on GET one when sharing_key_variants is on.
    get_sharing_keys: tuple[str, str]


_SHARING = ("users_allowed", "groups_allowed")
_FLAGS = ("need_justify", "need_approval", "can_view", "can_write")
PASSWORD = Kind(
    name="password",
    label="Password",
    inactive_text="Inactive password",
    fields=("name", "url", "username", "password", "secret_key", "notes", "tags"),
    required=("name", "username", "password"),
    filters={"tag": "tags", "name": "name", "username": "username", "url": "url"},
    list_key="password_on_list",
    list_names=("identifier", "name", "url", "username", "tags", *_FLAGS),
    get_key="password_entity",
    get_names=(
        "identifier",
        "name",
        "url",
        "username",
        "password",
        "secret_key",
        "token",
        "notes",
        "tags",
        *_SHARING,
    ),
    write_key="password_entity",
    write_names=("identifier", "name", "url", "username", "note", "tags", *_SHARING, "shared_error"),
    get_sharing_keys=("username", "can_write"),
)
SECRET = Kind(
    name="secret",
    label="Api secret",
    inactive_text="Inactive Api secret",
    fields=("name", "url", "client_id", "client_secret", "identifier_code", "method", "tags", "notes"),
    required=("name", "url", "client_id", "client_secret"),
    filters={"tag": "tags", "identifier_code": "identifier_code"},
    list_key="api_secret_on_list",
    list_names=("identifier", "name", *_FLAGS),
    get_key="api_secret_entity",
    get_names=(
        "identifier",
        "name",
        "url",
        "client_id",
        "client_secret",
        "identifier_code",
        "method",
        "tags",
        "notes",
        *_SHARING,
    ),
    write_key="api_entity",
    write_names=(
        "identifier",
        "name",
        "url",
        "client_secret",
        "client_id",
        "identifier_code",
        "method",
        "tags",
        "notes",
        *_SHARING,
        "shared_error",
    ),
    get_sharing_keys=("name", "can_edit"),
)
KINDS = {"password": PASSWORD, "secret": SECRET}
RESOURCES = {"password": PASSWORD, "secretapi": SECRET}


class BusinessError(Exception):
    """A MySafe business error: HTTP 400 with the real code in `exception.code`."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code


def _not_informed(name: str) -> BusinessError:
    return BusinessError(1001, f"Parameter '{name}' was not informed!")


def _text(name: str, value: Any) -> str | None:
    """Store text as the vendor does: numbers become strings, null clears the field."""
    if value is None:
        return None if name == "secret_key" else ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BusinessError(1001, f"Parameter '{name}' is invalid!")
    return str(value)


def _truthy(value: Any) -> bool:
    """Read `can_edit` leniently; a missing flag means view-only."""
    return value in (True, 1, "1", "true", "True")


def _parse_fields(kind: Kind, body: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    """Pick the kind's fields; on create every required one must be there and non-empty."""
    fields = {name: _text(name, body[name]) for name in kind.fields if name in body}
    for name in kind.required:
        if (creating or name in fields) and not fields.get(name):
            raise _not_informed(name)
    if creating:
        fields = {name: _text(name, None) for name in kind.fields} | fields
    return fields


def totp(seed: str | None, at: float | None = None) -> str | None:
    """RFC 6238 code for a base32 seed; None when there is no usable seed."""
    if not seed:
        return None
    cleaned = seed.replace(" ", "").upper()
    try:
        key = base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except (binascii.Error, ValueError):
        return None
    counter = int(time.time() if at is None else at) // TOTP_STEP
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = int.from_bytes(digest[offset : offset + 4], "big") & 0x7FFFFFFF
    return f"{code % 1_000_000:06d}"


def _project(entry: Entry, names: tuple[str, ...], **extra: Any) -> dict[str, Any]:
    """Lay an entry out under the given wire names, in the vendor's order."""
    values = {"identifier": str(entry.identifier), "note": entry.fields.get("notes")}
    values |= entry.fields | extra
    return {name: values[name] for name in names}


def _sharing(entry: Entry, user_key: str = "username", edit_key: str = "can_edit") -> dict:
    return {
        "users_allowed": [{user_key: u, edit_key: edit} for u, edit in entry.users.items()],
        "groups_allowed": [{"name": n, edit_key: edit} for n, edit in entry.groups.items()],
    }


class Emulator:
    """State and behaviour of one MySafe installation; thread-safe behind one lock.

    The `add_*`, `update_entry`, `set_active` methods change state directly (as if someone used
    MySafe meanwhile); the `api_*` methods are what the HTTP routes call, with the caller's
    permissions, and raise `BusinessError` exactly where the vendor answers a 4-digit code.
    """

    def __init__(self, options: EmulatorOptions | None = None) -> None:
        self.options = options or EmulatorOptions()
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[str, str]] = {}
        self._clients: dict[str, str] = {}
        self._revoked: set[str] = set()
        self._groups: dict[str, list[str]] = {}
        self._tokens: dict[str, tuple[str, float]] = {}
        self._faults: list[Fault] = []
        self._entries: dict[str, dict[int, Entry]] = {"password": {}, "secret": {}}
        self._next_id = {"password": 1, "secret": 1}

    # -- direct setup, for tests and the sandbox -------------------------------------------

    def add_user(
        self, username: str, *, client_id: str | None = None, client_secret: str | None = None
    ) -> tuple[str, str]:
        """Give the user an access key (a new one replaces the old and lifts a revocation)."""
        key = (client_id or secrets.token_hex(12), client_secret or secrets.token_urlsafe(24))
        with self._lock:
            old = self._keys.get(username)
            if old:
                self._clients.pop(old[0], None)
            self._keys[username] = key
            self._clients[key[0]] = username
            self._revoked.discard(username)
        return key

    def add_group(self, name: str, members: list[str]) -> None:
        with self._lock:
            self._groups[name] = list(members)

    def add_password(self, owner: str, **fields: Any) -> int:
        """Store a password as if `owner` created it; unknown sharees raise ValueError."""
        return self._add(PASSWORD, owner, fields)

    def add_secret(self, owner: str, **fields: Any) -> int:
        """Store an API secret as if `owner` created it; unknown sharees raise ValueError."""
        return self._add(SECRET, owner, fields)

    def get_password(self, identifier: int) -> dict[str, Any] | None:
        return self._raw(PASSWORD, identifier)

    def get_secret(self, identifier: int) -> dict[str, Any] | None:
        return self._raw(SECRET, identifier)

    def set_active(self, kind: str, identifier: int, active: bool) -> None:
        with self._lock:
            self._entries[kind][identifier].active = active

    def update_entry(self, kind: str, identifier: int, **fields: Any) -> None:
        """Change an entry behind the bot's back; sharing lists replace, as in the API."""
        with self._lock:
            errors = self._change(KINDS[kind], self._entries[kind][identifier], fields)
        if errors:
            raise ValueError("; ".join(errors))

    def inject(
        self,
        *,
        status: int,
        body: str | dict[str, Any] | None = None,
        method: str | None = None,
        path_prefix: str | None = None,
        times: int = 1,
        delay: float = 0.0,
        retry_after: int | None = None,
        echo: bool = False,
    ) -> None:
        """Queue a fault; status 0 only delays. body None uses the gateway's usual text."""
        with self._lock:
            self._faults.append(
                Fault(status, body, method, path_prefix, times, delay, retry_after, echo=echo)
            )

    def hold(self, *, method: str, path_prefix: str) -> Gate:
        """Hold the next matching call until `Gate.release()`; then it is answered normally."""
        gate = Gate()
        with self._lock:
            self._faults.append(Fault(0, None, method, path_prefix, 1, 0.0, gate=gate))
        return gate

    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens = {token: (user, 0.0) for token, (user, _) in self._tokens.items()}

    def revoke_user(self, username: str) -> None:
        """Reject the user's key at the token endpoint; tokens already issued live on."""
        with self._lock:
            self._revoked.add(username)

    def calls_to(self, method: str, path_prefix: str) -> list[Call]:
        with self._lock:
            return [
                c for c in self.calls if c.method == method.upper() and c.path.startswith(path_prefix)
            ]

    def reset_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    # -- plumbing the routes use ----------------------------------------------------------

    def record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            fault = next((f for f in self._faults if f.matches(method, path)), None)
            if fault:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
            return fault

    def issue_token(self, client_id: str | None, client_secret: str | None) -> str | None:
        """Return a new access token, or None when the key is unknown, wrong or revoked."""
        with self._lock:
            user = self._clients.get(client_id or "")
            if user is None or user in self._revoked or client_secret is None:
                return None
            if not hmac.compare_digest(self._keys[user][1].encode(), client_secret.encode()):
                return None
            token = secrets.token_urlsafe(32)
            if self.options.one_token_per_key:
                self._tokens = {t: v for t, v in self._tokens.items() if v[0] != user}
            self._tokens[token] = (user, time.monotonic() + self.options.token_lifetime)
            return token

    def authenticate(self, token: str | None) -> tuple[str | None, bool]:
        """Return (the token's user if known, whether it is still valid)."""
        with self._lock:
            user, expires_at = self._tokens.get(token or "", (None, 0.0))
        return user, user is not None and time.monotonic() < expires_at

    # -- API operations, with the caller's permissions -------------------------------------

    def api_list(self, kind: Kind, caller: str, filters: Mapping[str, str]) -> list[dict]:
        wanted = {kind.filters[k]: v.lower() for k, v in filters.items() if k in kind.filters and v}
        with self._lock:
            items = []
            for entry in sorted(self._entries[kind.name].values(), key=lambda e: e.identifier):
                can_view, can_edit = self._rights(entry, caller)
                if entry.active and can_view and _matches(entry, wanted):
                    items.append(
                        _project(
                            entry,
                            kind.list_names,
                            need_justify="0",
                            need_approval="0",
                            can_view=True,
                            can_write=can_edit,
                        )
                    )
            return items

    def api_get(self, kind: Kind, caller: str, identifier: int) -> dict[str, Any]:
        with self._lock:
            entry = self._find(kind, identifier, caller, need_edit=False)
            keys = kind.get_sharing_keys if self.options.sharing_key_variants else ()
            token = totp(entry.fields.get("secret_key"))
            return _project(entry, kind.get_names, token=token, **_sharing(entry, *keys))

    def api_create(self, kind: Kind, caller: str, body: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            entry, errors = self._create(kind, caller, body)
            return _project(entry, kind.write_names, shared_error=errors, **_sharing(entry))

    def api_update(
        self, kind: Kind, caller: str, identifier: int, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        with self._lock:
            entry = self._find(kind, identifier, caller, need_edit=True)
            errors = self._change(kind, entry, body)
            return _project(entry, kind.write_names, shared_error=errors, **_sharing(entry))

    def api_set_active(self, kind: Kind, caller: str, identifier: int, active: bool) -> str:
        """Enable or disable; needs edit rights, and saying it twice is not an error."""
        verb = "activated" if active else "deactivated"
        with self._lock:
            entry = self._find(kind, identifier, caller, need_edit=True, allow_inactive=True)
            already, entry.active = entry.active == active, active
        if already:
            return f"{kind.label} has already been {verb}"
        return f"{kind.label} successfully {verb}"

    # -- helpers; the caller holds the lock -------------------------------------------------

    def _add(self, kind: Kind, owner: str, fields: Mapping[str, Any]) -> int:
        with self._lock:
            entry, errors = self._create(kind, owner, fields)
        if errors:
            raise ValueError("; ".join(errors))
        return entry.identifier

    def _raw(self, kind: Kind, identifier: int) -> dict[str, Any] | None:
        with self._lock:
            entry = self._entries[kind.name].get(identifier)
            if entry is None:
                return None
            return {
                "identifier": entry.identifier,
                "owner": entry.owner,
                "active": entry.active,
                **entry.fields,
                **_sharing(entry),
            }

    def _rights(self, entry: Entry, user: str) -> tuple[bool, bool]:
        """(can view, can edit): owner, a direct share, or a share to one of the user's groups."""
        if user == entry.owner:
            return True, True
        grants = [edit for name, edit in entry.users.items() if name == user]
        grants += [edit for name, edit in entry.groups.items() if user in self._groups.get(name, ())]
        return bool(grants), any(grants)

    def _find(
        self, kind: Kind, identifier: int, caller: str, *, need_edit: bool, allow_inactive: bool = False
    ) -> Entry:
        """Apply the vendor's order of checks: 1005, then 1006, then 1009."""
        entry = self._entries[kind.name].get(identifier)
        if entry is None:
            raise BusinessError(1005, f"{kind.label} not found")
        can_view, can_edit = self._rights(entry, caller)
        if not (can_edit if need_edit else can_view):
            raise BusinessError(1006, "User does not have access")
        if not entry.active and not allow_inactive:
            raise BusinessError(1009, kind.inactive_text)
        return entry

    def _create(self, kind: Kind, owner: str, body: Mapping[str, Any]) -> tuple[Entry, list]:
        fields = _parse_fields(kind, body, creating=True)
        users, groups, errors = self._parse_sharing(body)
        self._check_unique_code(kind, owner, fields.get("identifier_code"), exclude=None)
        identifier = self._next_id[kind.name]
        self._next_id[kind.name] += 1
        entry = Entry(identifier, owner, fields, users or {}, groups or {})
        self._entries[kind.name][identifier] = entry
        return entry, errors

    def _change(self, kind: Kind, entry: Entry, body: Mapping[str, Any]) -> list[str]:
        """Validate everything first, then apply: a rejected update changes nothing."""
        fields = _parse_fields(kind, body, creating=False)
        users, groups, errors = self._parse_sharing(body)
        if "identifier_code" in fields:
            self._check_unique_code(
                kind, entry.owner, fields["identifier_code"], exclude=entry.identifier
            )
        entry.fields.update(fields)
        # The vendor replaces a sharing list when it is sent at all; [] removes every share.
        if users is not None:
            entry.users = users
        if groups is not None:
            entry.groups = groups
        return errors

    def _parse_sharing(self, body: Mapping[str, Any]) -> tuple[dict | None, dict | None, list]:
        errors: list[str] = []
        users = _share_list(body, "users_allowed", "username", self._keys, "User", errors)
        groups = _share_list(body, "groups_allowed", "name", self._groups, "Group", errors)
        return users, groups, errors

    def _check_unique_code(
        self, kind: Kind, owner: str, code: str | None, *, exclude: int | None
    ) -> None:
        if kind is not SECRET or not code:
            return
        for entry in self._entries[kind.name].values():
            if (
                entry.owner == owner
                and entry.identifier != exclude
                and entry.fields.get("identifier_code") == code
            ):
                raise BusinessError(1001, "'Identifier' already found in another API key of this user")


def _share_list(
    body: Mapping[str, Any],
    key: str,
    name_key: str,
    known: Mapping[str, Any],
    label: str,
    errors: list[str],
) -> dict[str, bool] | None:
    """Keep the known names; each unknown one becomes a `shared_error` string instead."""
    items = body.get(key)
    if items is None:
        return None
    if not isinstance(items, list):
        raise BusinessError(1001, f"Parameter '{key}' is invalid!")
    granted: dict[str, bool] = {}
    for item in items:
        name = item.get(name_key) if isinstance(item, dict) else None
        if isinstance(name, str) and name in known:
            granted[name] = _truthy(item.get("can_edit"))
        else:
            errors.append(f"{label} '{name}' not found")
    return granted


def _matches(entry: Entry, wanted: Mapping[str, str]) -> bool:
    return all(value in (entry.fields.get(name) or "").lower() for name, value in wanted.items())
