"""`mysafe-bot worker`: the loop that expires due requests and recovers stuck applies.

It stops cleanly on SIGTERM/SIGINT: the current sweep finishes, then the process exits 0.
"""

from __future__ import annotations

import logging
import signal
import threading

from app.logs import configure_logging
from app.services import Services
from app.settings import Settings

log = logging.getLogger(__name__)


def run_worker(*, interval: float = 1.0, once: bool = False) -> int:
    settings = Settings.from_env()
    configure_logging(settings.log_format)
    services = Services.build(settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    log.info("worker started", extra={"event": "worker.start"})
    try:
        while True:
            sweep(services)
            if once or stop.wait(interval):
                break
    finally:
        services.close()
        log.info("worker stopped", extra={"event": "worker.stop"})
    return 0


def sweep(services: Services) -> int:
    """One pass over what is due; the approval engine fills this in."""
    return 0
