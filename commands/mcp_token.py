"""`/mysafe mcp-token [revoke]`: issue (or revoke) your token for the MCP server."""

from __future__ import annotations

import json

from app.accounts.mcp_tokens import McpTokens
from app.foundations.clock import timestamp
from app.foundations.durations import describe
from app.i18n import N_, _
from commands.context import Context
from commands.grammar import Args, keyword
from commands.replies import Code, Line, Message, Strong, When, line
from commands.types import McpToken, Token, VerbSpec

SPEC = VerbSpec(
    name="mcp-token",
    usage="/mysafe mcp-token [revoke]",
    summary=N_("get a token for AI assistants (MCP), or revoke yours"),
    examples=("/mysafe mcp-token", "/mysafe mcp-token revoke"),
)


#: The command this verb parses to; `commands.dispatch` routes it to `run`.
COMMAND = McpToken


def parse(args: list[Token]) -> McpToken:
    rest = Args(args)
    revoke = keyword(rest.peek()) == "revoke"
    if revoke:
        rest.take()
    rest.end()
    return McpToken(revoke)


def run(ctx: Context, command: McpToken) -> Message:
    """Issue (shown once, in this ephemeral reply) or revoke the person's MCP token."""
    tokens = McpTokens(ctx.services.redis, prefix=ctx.services.settings.key_prefix)
    if command.revoke:
        if tokens.revoke(ctx.user_id):
            ctx.engine.audit.record("mcp_token.revoked", actor=ctx.user_id)
            return Message.of(
                _("Your MCP token is revoked: assistants using it are refused from now on.")
            )
        return Message.of(_("You had no MCP token."))
    ctx.services.vault.credentials(ctx.user_id)  # proposals act with your MySafe key
    ttl = ctx.services.settings.mcp_token_ttl
    token = tokens.issue(ctx.user_id, ttl=ttl)
    ends = int(timestamp()) + ttl
    ctx.engine.audit.record("mcp_token.issued", actor=ctx.user_id, ttl=ttl)
    return Message(
        (
            (_("Your MCP token (shown once; any earlier token stops working): "), Code(token)),
            line(
                _("It works for {duration}, until {when}; then issue a new one."),
                duration=describe(ttl),
                when=When(ends),
            ),
            *_how_to_add(ctx, token),
            line(
                _(
                    "Assistants can look up entries and {propose} changes; an approver still "
                    "decides in Slack. Revoke it with {command}."
                ),
                propose=Strong(_("propose")),
                command=Code("/mysafe mcp-token revoke"),
            ),
        )
    )


def server_url(ctx: Context) -> str | None:
    """Where assistants reach the MCP server (`/mcp` under its public URL), or None when this
    deployment runs none (MYSAFE_BOT_MCP_PORT=0)."""
    settings = ctx.services.settings
    if not settings.mcp_port:
        return None
    base = settings.mcp_public_url or f"http://127.0.0.1:{settings.mcp_port}"
    return base.rstrip("/") + "/mcp"


def _how_to_add(ctx: Context, token: str) -> tuple[Line, ...]:
    """The server's URL and the lines to paste into an assistant's MCP settings."""
    url = server_url(ctx)
    if url is None:
        return (
            line(
                _(
                    "This deployment runs no MCP server (MYSAFE_BOT_MCP_PORT is 0): ask its "
                    "operators, or give the token to an assistant run with {command}."
                ),
                command=Code("mysafe-bot mcp --stdio"),
            ),
        )
    config = json.dumps(
        {
            "mcpServers": {
                "mysafe": {"type": "http", "url": url, "headers": {"Authorization": f"Bearer {token}"}}
            }
        }
    )
    return (
        line(
            _("MCP server: {url} (streamable HTTP), with the header {header}."),
            url=Code(url),
            header=Code("Authorization: Bearer <token>"),
        ),
        line(
            _(
                "To add it to an assistant (Claude Desktop, Cursor, VS Code…), put this in its "
                "MCP settings ({file} or the app's MCP servers page):"
            ),
            file=Code("mcp.json"),
        ),
        (Code(config),),
    )
