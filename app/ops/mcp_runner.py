"""Running the MCP server: stdio for a local assistant, uvicorn for streamable HTTP."""

from __future__ import annotations

import logging
import os
import sys

from app.accounts.mcp_tokens import McpTokens
from app.approvals.engine import Engine
from app.foundations.errors import ConfigError
from app.foundations.logs import configure_logging
from app.foundations.settings import Settings
from app.ops.reload import reload_on_hup
from app.ops.runtime import build_runtime, load_settings

log = logging.getLogger(__name__)


def _engine(settings: Settings | None = None) -> Engine:
    settings = settings or load_settings()
    configure_logging(settings.log_format)
    engine = build_runtime(settings, front=False).engine
    reload_on_hup(engine.policy)
    return engine


def run_stdio() -> int:
    """stdout carries the protocol, so logs go to stderr (configure_logging's default)."""
    engine = _engine()
    token = os.environ.get("MYSAFE_BOT_MCP_TOKEN", "")
    user = McpTokens(engine.services.redis, prefix=engine.settings.key_prefix).user_for(token)
    if user is None:
        raise ConfigError("MYSAFE_BOT_MCP_TOKEN", "expected a valid token from `/mysafe mcp-token`")
    from app.mcp.server import build_mcp

    log.info("mcp stdio", extra={"event": "mcp.stdio", "user": user})
    # The token is checked again on every call (see StdioIdentity): revoking it ends access.
    build_mcp(engine, public_url="http://localhost", stdio_token=token).run(transport="stdio")
    return 0


def run_http(*, host: str, port: int | None) -> int:
    import uvicorn

    from app.mcp.server import build_mcp

    settings = load_settings()
    port = port or settings.mcp_port
    public = settings.mcp_url(host=host, port=port)  # before anything starts: exit 2 if unset
    engine = _engine(settings)
    app = build_mcp(engine, public_url=public).streamable_http_app()
    log.info("mcp http", extra={"event": "mcp.http", "bind": f"{host}:{port}", "url": public})
    # log_config=None: uvicorn's own lines go through the bot's handler, in the bot's format.
    uvicorn.run(
        app, host=host, port=port, log_level="warning", log_config=None, timeout_graceful_shutdown=20
    )
    return 0


def sibling_command(host: str, port: int) -> list[str]:
    """What `mysafe-bot serve` starts beside gunicorn."""
    return [sys.executable, "-m", "app.ops.cli", "mcp", "--http", "--host", host, "--port", str(port)]
