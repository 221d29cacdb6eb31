"""`mysafe-bot worker`: the loop that expires due requests and recovers stuck applies.

It stops cleanly on SIGTERM/SIGINT: the current sweep finishes, then the process exits 0.
"""

from __future__ import annotations

import logging
import signal
import threading
import time

import redis

from app.callbacks import TicketCallbacks
from app.clock import timestamp
from app.engine import Engine
from app.logs import configure_logging
from app.notifier import SlackNotifier
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
    last_repost = 0.0
    try:
        while True:
            sweep(engine)
            repair(engine)
            if time.monotonic() - last_repost >= REPOST_EVERY:
                repost(engine)
                last_repost = time.monotonic()
            if once or stop.wait(interval):
                break
    finally:
        services.close()
        log.info("worker stopped", extra={"event": "worker.stop"})
    return 0


REPOST_EVERY = 30.0


def repost(engine: Engine) -> int:
    """Give every open request its Slack message, if Slack was down when it was made, and
    index for take-over any apply whose lease passed without the lease index knowing."""
    try:
        behind = engine.rescue()
        notifiers = [x for x in engine.listeners if isinstance(x, SlackNotifier)]
        if not notifiers:
            return 0
        return (notifiers[0].post_missing(engine.queue(), older_than=timestamp() - 30)
                + notifiers[0].repair(behind))
    except redis.RedisError:
        return 0


def repair(engine: Engine) -> int:
    """Bring up to date the messages Slack did not take (a failed `chat.update`)."""
    notifiers = [x for x in engine.listeners if isinstance(x, SlackNotifier)]
    if not notifiers:
        return 0
    try:
        return notifiers[0].repair(engine.store.due("repair", timestamp(), limit=100))
    except redis.RedisError:
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
