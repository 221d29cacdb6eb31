"""gunicorn settings, one place for `mysafe-bot serve` and `gunicorn -c python:app.gunicorn_conf`.

gthread workers: Slack's listeners block on MySafe and Slack calls after the ack, and threads
keep a slow MySafe from holding a whole process. The graceful timeout lets in-flight requests
finish on SIGTERM; an apply cut short is taken over by the worker's lease logic.
"""

from __future__ import annotations

import os
import tempfile

worker_class = "gthread"
threads = 8
timeout = 30
graceful_timeout = 25
keepalive = 5
limit_request_line = 8190
accesslog = None

def on_starting(server) -> None:
    """prometheus-client's multiprocess mode: every worker writes its samples to this directory
    and /metrics adds them up. Set in the master, before the workers fork."""
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR",
                          tempfile.mkdtemp(prefix="mysafe-bot-metrics-"))


def child_exit(server, worker) -> None:
    """Tell prometheus-client a worker is gone, so its live gauges stop counting."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


SETTINGS = {name: globals()[name] for name in (
    "worker_class", "threads", "timeout", "graceful_timeout", "keepalive", "limit_request_line",
    "accesslog", "on_starting", "child_exit")}
