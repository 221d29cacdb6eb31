"""The MCP front: AI assistants look up entries and *propose* changes; people approve in Slack.

Built on the official `mcp` SDK (FastMCP). Served two ways:

- streamable HTTP at `/mcp`, by `mysafe-bot mcp --http` — a sibling process that
  `mysafe-bot serve` starts beside gunicorn. The SDK's HTTP transport is ASGI (anyio task
  groups, optional SSE streams) while the Slack app is WSGI under gunicorn; a process of its own
  (uvicorn) keeps each on the server made for it, and stateless JSON responses let any number of
  such processes share the load. Every request needs `Authorization: Bearer <MCP token>`.
- stdio, by `mysafe-bot mcp --stdio`, for a local assistant; the token comes from
  `MYSAFE_BOT_MCP_TOKEN` and is checked the same way.

Every tool acts for the token's Slack user, with that person's own MySafe key. No tool applies
a change or returns a secret value: proposals are ordinary change requests (source "mcp")
that wait for an approver's click.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any, Literal

from marshmallow import Schema, fields, validate
from marshmallow import ValidationError as MarshmallowError
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.fastmcp import FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import AnyHttpUrl

from app.accounts.mcp_tokens import McpTokens
from app.approvals.change_diff import DiffLine
from app.approvals.change_request import ChangeRequest, is_request_id
from app.approvals.changes import Change, Verb
from app.approvals.disabled import merged
from app.approvals.engine import Engine
from app.approvals.given import Holder
from app.approvals.machine import State
from app.error_messages import user_message
from app.foundations import metrics
from app.foundations.durations import PERIOD_FORM, parse_period
from app.foundations.errors import BotError, ValidationError
from app.foundations.ratelimit import RateLimiter
from app.i18n import N_, _, speaking
from app.mcp import descriptions
from app.mysafe.models import Entry, GroupShare, Kind, UserShare
from app.mysafe.schemas import UPDATE_SCHEMAS, validate_body
from commands import access
from commands.context import Context
from commands.replies import AccessShown
from commands.types import EntryRef, WhoHasAccess

SCOPE = "mysafe"
NOT_YOURS = N_("no such request among yours (request ids look like R-7K2QF)")
KindName = Literal["password", "secret"]


class _Proposal(Schema):
    """The same bounds as Slack commands and tickets, for what an assistant sends."""

    kind = fields.String(required=True, validate=validate.OneOf(("password", "secret")))
    id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=2**31 - 1))
    users = fields.List(
        fields.String(validate=validate.Length(min=1, max=128)),
        validate=validate.Length(max=50),
        load_default=list,
    )
    groups = fields.List(
        fields.String(validate=validate.Length(min=1, max=128)),
        validate=validate.Length(max=50),
        load_default=list,
    )
    can_edit = fields.Boolean(load_default=False)
    reason = fields.String(validate=validate.Length(max=500), load_default="")
    duration = fields.String(validate=validate.Length(max=20), load_default="")


class _TokenVerifier:
    """The SDK's TokenVerifier: an MCP token is valid while its hash maps to a Slack user."""

    def __init__(self, tokens: McpTokens) -> None:
        self.tokens = tokens

    async def verify_token(self, token: str) -> AccessToken | None:
        user = self.tokens.user_for(token)
        if user is None:
            return None
        return AccessToken(token=token, client_id=user, scopes=[SCOPE], subject=user)


class StdioIdentity:
    """Who a stdio session acts for, looked up again at every call (one Redis GET, small
    beside the MySafe calls a tool makes): a token revoked, ended by logout or past its
    lifetime stops a running session at its next call, as it does over HTTP."""

    def __init__(self, tokens: McpTokens, token: str) -> None:
        self.tokens = tokens
        self.token = token

    def __call__(self) -> str:
        user = self.tokens.user_for(self.token)
        if user is None:
            raise ToolError(
                _("this MCP token is no longer valid: issue a new one with `/mysafe mcp-token`")
            )
        return user


def build_mcp(engine: Engine, *, public_url: str, stdio_token: str | None = None) -> FastMCP:
    services = engine.services
    tokens = McpTokens(services.redis, prefix=services.settings.key_prefix)
    limiter = RateLimiter(
        services.redis,
        prefix=services.settings.key_prefix,
        name="mcp",
        per_minute=services.settings.command_rate_limit,
    )
    options: dict[str, Any] = {}
    if stdio_token is None:
        options = {"token_verifier": _TokenVerifier(tokens), "auth": _bearer_only(public_url)}
    with speaking(services.settings.bot_locale):  # what the model reads, in the workspace's
        instructions = _(descriptions.INSTRUCTIONS)
    mcp = FastMCP(
        "mysafe-bot",
        instructions=instructions,
        stateless_http=True,
        json_response=True,
        # Bearer tokens authenticate every request, and the server usually sits behind a
        # proxy whose Host header differs: DNS-rebinding checks would only refuse real users.
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        **options,
    )
    who: Callable[[], str] = _token_user if stdio_token is None else StdioIdentity(tokens, stdio_token)
    tools = _Tools(engine, limiter, who)
    for tool in (
        tools.list_entries,
        tools.show_entry,
        tools.who_has_access,
        tools.propose_share,
        tools.propose_unshare,
        tools.propose_update,
        tools.propose_disable,
        tools.propose_enable,
        tools.request_status,
        tools.my_requests,
        tools.cancel_request,
    ):
        with speaking(services.settings.bot_locale):
            description = descriptions.describe(tool.__name__, tool.__doc__)
        mcp.add_tool(_spoken(tool, services.settings.bot_locale), description=description)
    return mcp


def _spoken(tool: Callable[..., Any], locale: str) -> Callable[..., Any]:
    """`tool`, speaking the workspace's language throughout a call: its arguments' refusals
    come before the verb runs. (The SDK reads the tool's signature through `wraps`.)"""

    @wraps(tool)
    def spoken(*args: Any, **kwargs: Any) -> Any:
        with speaking(locale):
            return tool(*args, **kwargs)

    return spoken


def _bearer_only(public_url: str) -> AuthSettings:
    """Bearer tokens checked by our verifier, and nothing advertised that does not exist.

    Tokens come from `/mysafe mcp-token`; the bot runs no OAuth authorization server. With a
    `resource_server_url` the SDK would publish `/.well-known/oauth-protected-resource` and
    point `WWW-Authenticate` at it, naming `issuer_url` as the authorization server: clients
    would go looking for OAuth endpoints that are not there. Without one, a 401 says only
    `Bearer`. `issuer_url` is a required field that the SDK publishes only in those two places
    (and with an auth server provider, which we do not give it), so it is never shown.
    """
    return AuthSettings(
        issuer_url=AnyHttpUrl(public_url),
        resource_server_url=None,
        required_scopes=[SCOPE],
        validate_token_resource=False,
    )


def _token_user() -> str:
    token = get_access_token()
    if token is None:  # the SDK's auth middleware refuses before this; never act for nobody
        raise ToolError("no MCP token")
    return token.client_id


class _Tools:
    def __init__(self, engine: Engine, limiter: RateLimiter, who: Callable[[], str]) -> None:
        self.engine = engine
        self.limiter = limiter
        self.who = who
        #: Answers and refusals speak the workspace's language (MYSAFE_BOT_LOCALE): a token
        #: names a person, but this front does not read Slack (the assistant relays to them).
        self.locale = engine.services.settings.bot_locale

    def _user(self) -> str:
        user = self.who()
        verdict = self.limiter.hit(user)
        if not verdict.allowed:
            metrics.RATE_LIMITED.labels(limit="mcp").inc()
            with speaking(self.locale):
                raise ToolError(
                    _("rate limited: try again in {seconds} s").format(seconds=verdict.retry_after)
                )
        return user

    def _run(self, action: Callable[[str], Any]) -> Any:
        user = self._user()
        with speaking(self.locale):
            try:
                return action(user)
            except BotError as error:
                raise ToolError(user_message(error)) from None

    # --- read -------------------------------------------------------------------------------

    def list_entries(self, kind: KindName, text: str = "") -> dict[str, Any]:
        """List MySafe passwords or API secrets the user can see, optionally filtered by text
        (matched against name, URL, username and tags), each enabled or disabled. Never
        returns secret values."""

        def action(user: str) -> dict[str, Any]:
            client = self.engine.client_for(user)
            disabled = self.engine.disabled.visible_to(client, Kind(kind))
            items = merged(client.list_entries(Kind(kind)), disabled)
            found = [i for i in items if i.matches(text[:100])]
            self.engine.audit.record(
                "entries.listed", actor=user, kind=kind, shown=len(found[:200]), source="mcp"
            )
            return {
                "entries": [
                    {
                        "kind": kind,
                        "id": i.identifier,
                        "name": i.name,
                        "url": i.url,
                        "username": i.username,
                        "tags": i.tags,
                        "can_edit": i.can_write,
                        "state": "enabled" if i.active else "disabled",
                    }
                    for i in found[:200]
                ]
            }

        return self._run(action)

    def show_entry(self, kind: KindName, id: int) -> dict[str, Any]:  # noqa: A002 - tool arg
        """Show one entry: its state (enabled or disabled), plain fields and who it is shared
        with. Secret values (password, TOTP seed, client secret) are reported only as set or
        not set; a disabled entry shows nothing but its state."""

        def action(user: str) -> dict[str, Any]:
            entry = self.engine.client_for(user).read(Kind(kind), id)
            self.engine.audit.record("entry.shown", actor=user, kind=kind, entry=id, source="mcp")
            return _entry(entry)

        return self._run(action)

    def who_has_access(self, kind: KindName, id: int) -> dict[str, Any]:  # noqa: A002 - tool arg
        """Everyone with access to one entry now (users and groups, view or edit), as the
        user's own MySafe key reads it, and how each came: the requests the bot applied that
        give that right (requester, approvers, when, ticket, time-bound until when), or
        `given_outside_the_bot` when no running request explains it."""

        def action(user: str) -> dict[str, Any]:
            context = Context(
                user_id=user,
                engine=self.engine,
                services=self.engine.services,
                approvers=(),
                source="mcp",
            )
            return access_data(access.run(context, WhoHasAccess(EntryRef(Kind(kind), id))))

        return self._run(action)

    # --- proposals --------------------------------------------------------------------------

    def propose_share(
        self,
        kind: KindName,
        id: int,
        users: list[str] | None = None,  # noqa: A002
        groups: list[str] | None = None,
        can_edit: bool = False,
        reason: str = "",
        duration: str = "",
        emergency: bool = False,
    ) -> dict[str, Any]:
        """Propose sharing an entry with MySafe users and/or groups (view-only unless can_edit).
        With a duration (30m, 8h, 2d, 1d12h) the access is taken back by itself at the end.
        `emergency` (break-glass) is always refused here: an on-call person opens it in Slack."""
        data = _load(
            {
                "kind": kind,
                "id": id,
                "users": users or [],
                "groups": groups or [],
                "can_edit": can_edit,
                "reason": reason,
                "duration": duration,
            }
        )
        change = Change(
            Verb.SHARE,
            Kind(kind),
            data["id"],
            add_users=tuple(UserShare(u, data["can_edit"]) for u in data["users"]),
            add_groups=tuple(GroupShare(g, data["can_edit"]) for g in data["groups"]),
            duration=_period(data["duration"]),
        )
        return self._propose(change, data["reason"], emergency=emergency)

    def propose_unshare(
        self,
        kind: KindName,
        id: int,
        users: list[str] | None = None,  # noqa: A002
        groups: list[str] | None = None,
        reason: str = "",
    ) -> dict[str, Any]:
        """Propose removing MySafe users and/or groups from an entry's sharing."""
        data = _load(
            {"kind": kind, "id": id, "users": users or [], "groups": groups or [], "reason": reason}
        )
        change = Change(
            Verb.UNSHARE,
            Kind(kind),
            data["id"],
            remove_users=tuple(data["users"]),
            remove_groups=tuple(data["groups"]),
        )
        return self._propose(change, data["reason"])

    def propose_update(
        self,
        kind: KindName,
        id: int,
        changes: dict[str, str],  # noqa: A002
        reason: str = "",
    ) -> dict[str, Any]:
        """Propose changing an entry's non-secret fields (passwords: name, url, username, notes,
        tags; API secrets: name, url, client_id, identifier_code, method, tags, notes). Secret
        fields are refused."""
        data = _load({"kind": kind, "id": id, "reason": reason})
        change = Change(Verb.UPDATE, Kind(kind), data["id"], fields=dict(changes or {}))

        def checked(user: str) -> dict[str, Any]:
            from app.approvals.changes import check

            check(change, {})
            validate_body(UPDATE_SCHEMAS[change.kind], dict(change.fields))
            return self._submit(user, change, data["reason"])

        return self._run(checked)

    def propose_disable(self, kind: KindName, id: int, reason: str = "") -> dict[str, Any]:  # noqa: A002
        """Propose disabling an entry in MySafe (for a leaked credential): nobody can read or
        use it until it is enabled again. The policy may apply it without waiting for an
        approver; the answer's state says whether it was."""
        data = _load({"kind": kind, "id": id, "reason": reason})
        return self._propose(Change(Verb.DISABLE, Kind(kind), data["id"]), data["reason"])

    def propose_enable(self, kind: KindName, id: int, reason: str = "") -> dict[str, Any]:  # noqa: A002
        """Propose enabling a disabled entry in MySafe again."""
        data = _load({"kind": kind, "id": id, "reason": reason})
        return self._propose(Change(Verb.ENABLE, Kind(kind), data["id"]), data["reason"])

    def _propose(self, change: Change, reason: str, *, emergency: bool = False) -> dict[str, Any]:
        return self._run(lambda user: self._submit(user, change, reason, emergency=emergency))

    def _submit(
        self, user: str, change: Change, reason: str, *, emergency: bool = False
    ) -> dict[str, Any]:
        """The engine refuses `emergency` from this front (app.approvals.break_glass)."""
        request = self.engine.submit(
            change, requester=user, reason=reason, source="mcp", emergency=emergency
        )
        return {**_request(request), "note": _note(request)}

    # --- requests ---------------------------------------------------------------------------

    def request_status(self, request_id: str) -> dict[str, Any]:
        """The state of one of the user's change requests (pending, applied, denied, …)."""
        return self._run(lambda user: _request(self._own(user, request_id)))

    def _own(self, user: str, request_id: str) -> ChangeRequest:
        """One of `user`'s requests; anything else — malformed, unknown, someone else's — gets
        the same answer, so the tool says nothing about requests that are not theirs."""
        wanted = request_id.strip().upper() if len(request_id) <= 20 else ""
        request = self.engine.store.get(wanted) if is_request_id(wanted) else None
        if request is None or request.requester != user:
            raise ToolError(_(NOT_YOURS))
        return request

    def my_requests(self) -> dict[str, Any]:
        """The user's open change requests."""
        return self._run(lambda user: {"requests": [_request(r) for r in self.engine.open_for(user)]})

    def cancel_request(self, request_id: str) -> dict[str, Any]:
        """Cancel one of the user's own pending requests."""

        def action(user: str) -> dict[str, Any]:
            decision = self.engine.cancel(self._own(user, request_id).id, user)
            return {**_request(decision.request), "changed": decision.changed}

        return self._run(action)


def _note(request: ChangeRequest) -> str:
    """What the proposal did: most wait for a person; a policy rule with `approvals: 0` (as
    for `disable` in the sample policy) has it applied already, and the assistant must not
    tell the user otherwise."""
    if request.state is State.PENDING:
        return _("Waiting for a human approver in Slack; nothing has changed in MySafe yet.")
    if request.state is State.APPLIED:
        return _("Applied at once: the policy needs no approval for this; it is announced in Slack.")
    return _("Not waiting for an approver (the policy needs none); it is {state}.").format(
        state=_(request.state.value)
    )


def _load(data: dict[str, Any]) -> dict[str, Any]:
    try:
        return _Proposal().load(data)
    except MarshmallowError as error:
        raise ToolError(str(ValidationError(_said(error.normalized_messages())))) from None


def _said(messages: Any) -> Any:
    """marshmallow's messages in the language spoken now (those the catalog knows)."""
    if isinstance(messages, str):
        return _(messages)
    if isinstance(messages, dict):
        return {key: _said(value) for key, value in messages.items()}
    if isinstance(messages, list | tuple):
        return [_said(item) for item in messages]
    return messages


def _period(text: str) -> int:
    """The seconds of a proposed share's `duration` ("" = for good)."""
    if not text.strip():
        return 0
    try:
        return parse_period(text)
    except ValueError:
        raise ToolError(_("duration: expected {form}").format(form=_(PERIOD_FORM))) from None


def _entry(entry: Entry) -> dict[str, Any]:
    if not entry.active:  # MySafe shows nothing of a disabled entry but that
        return {"kind": entry.kind.value, "id": entry.identifier, "state": "disabled"}
    return {
        "state": "enabled",
        "kind": entry.kind.value,
        "id": entry.identifier,
        **entry.plain_fields(),
        "password": "set" if entry.has_password else "not set",
        "totp_seed": "set" if entry.has_totp else "not set",
        "client_secret": "set" if entry.has_client_secret else "not set",
        "users_allowed": [
            {"username": u.username, "can_edit": u.can_edit} for u in entry.users_allowed
        ],
        "groups_allowed": [{"name": g.name, "can_edit": g.can_edit} for g in entry.groups_allowed],
    }


def access_data(reply: AccessShown) -> dict[str, Any]:
    """Who has access as data: the `who_has_access` tool's answer, and the CLI's `--json`."""
    return {
        "kind": reply.kind.value,
        "id": reply.identifier,
        "entry_name": reply.entry_name,
        "holders": [_holder(h) for h in reply.holders],
    }


def _holder(holder: Holder) -> dict[str, Any]:
    return {
        ("group" if holder.is_group else "user"): holder.name,
        "right": holder.right,
        "given_outside_the_bot": holder.outside,
        "through": [
            {
                "request_id": g.request,
                "requester": g.requester,
                "requester_mysafe": g.requester_name,
                "approvers": list(g.approvers),
                "applied_at": _iso(g.at),
                "ticket": g.ticket,
                "until": _iso(g.until) if g.until else None,
            }
            for g in holder.via
        ],
    }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _change(line: DiffLine) -> dict[str, str]:
    """A field's before/after, or a user's or group's right before/after ("" = no access)."""
    found = {"field": line.field, "before": line.before, "after": line.after}
    if line.principal:
        found[("group" if line.is_group else "user")] = line.principal
    return found


def _request(request: ChangeRequest) -> dict[str, Any]:
    return {
        "request_id": request.id,
        "state": request.state.value,
        "verb": request.change.verb.value,
        "kind": request.change.kind.value,
        "id": request.change.identifier,
        "entry_name": request.entry_name,
        "approvals": len(request.approvals),
        "approvals_required": request.required,
        "reason": request.reason,
        "changes": [_change(d) for d in request.diff],
        "error": request.error,
        "result": request.result.get("message", ""),
        "duration_seconds": request.change.duration,
    }
