"""`mysafe-bot worker`: the loop that expires due requests and recovers stuck applies.

It stops cleanly on SIGTERM/SIGINT: the current sweep finishes, then the process exits 0.
"""

from __future__ import annotations

import logging
import signal
import threading

import redis

from app.callbacks import TicketCallbacks
from app.engine import Engine
from app.logs import configure_logging
from app.services import Services
from app.settings import Settings
from app.wiring import build_engine

log = logging.getLogger(__name__)


def run_worker(*, interval: float = 1.0, once: bool = False) -> int:
    settings = Settings.from_env()
    configure_logging(settings.log_format)
    services = Services.build(settings)
    engine = build_engine(services)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    log.info("worker started", extra={"event": "worker.start"})
    try:
        while True:
            sweep(engine)
            if once or stop.wait(interval):
                break
    finally:
        services.close()
        log.info("worker stopped", extra={"event": "worker.stop"})
    return 0


def sweep(engine: Engine) -> int:
    """One pass over what is due; a Redis hiccup is logged and the next pass tries again."""
    try:
        handled = engine.sweep()
        for listener in engine.listeners:
            if isinstance(listener, TicketCallbacks):
                handled += listener.deliver_due()
        return handled
    except redis.RedisError as error:
        log.warning("sweep failed", extra={"event": "worker.sweep_error",
                                           "error": type(error).__name__})
        return 0
