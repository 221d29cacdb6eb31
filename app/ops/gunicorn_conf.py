"""gunicorn settings, one place for `mysafe-bot serve` and `gunicorn -c python:app.ops.gunicorn_conf`.

gthread workers: Slack's listeners block on MySafe and Slack calls after the ack, and threads
keep a slow MySafe from holding a whole process. The graceful timeout lets in-flight requests
finish on SIGTERM; an apply cut short is taken over by the worker's lease logic.
"""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Any

from gunicorn.glogging import Logger as GunicornLogger

from app.ops import cpu_pinning

worker_class = "gthread"
threads = 8
timeout = 30
graceful_timeout = 25
keepalive = 5
limit_request_line = 8190
accesslog = None
#: No control socket: the bot has no use for gunicorn's runtime management (worker counts,
#: reloads, shutdown through `gunicornc`), and its default path (`~/.gunicorn/gunicorn.ctl`)
#: is one per user, so every `serve` on a machine took it over from the one before.
control_socket_disable = True


class Logger(GunicornLogger):
    """gunicorn's logger, building an access line only when one would be written.

    With a logging config given (`logconfig_dict`, below) gunicorn works out every request's
    access atoms (about twenty: headers, times, the request line) and hands them to the
    `gunicorn.access` logger, which drops them at WARNING: a twentieth of a web worker's CPU
    per ack under load, for nothing. An operator who sets that logger to INFO gets the lines."""

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if self.access_log.isEnabledFor(logging.INFO):
            super().access(resp, req, environ, request_time)


logger_class = f"{__name__}.Logger"


def log_config(log_format: str | None = None) -> dict[str, Any]:
    """gunicorn's own lines ("Booting worker", "Handling signal") in the bot's format, on
    stderr, so the log is one format a collector parses. Access lines stay off (the bot
    counts requests in /metrics; a line per Slack poll would drown the rest)."""
    chosen = (log_format or os.environ.get("LOG_FORMAT") or "json").strip().lower()
    formatter = (
        "app.foundations.logs.TextFormatter"
        if chosen == "text"
        else "app.foundations.logs.JsonFormatter"
    )
    stderr = {"class": "logging.StreamHandler", "formatter": "bot", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": "INFO", "handlers": ["error_console"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
            "gunicorn.access": {"level": "WARNING", "handlers": ["error_console"], "propagate": False},
        },
        # gunicorn merges this over its defaults key by key: both of its handlers are named.
        "handlers": {"console": stderr, "error_console": stderr},
        "formatters": {"bot": {"()": formatter}},
    }


logconfig_dict = log_config()


def prepare_multiprocess_dir() -> str | None:
    """Point prometheus-client's multiprocess mode at a fresh directory unless one is set.

    It must run before anything in the process imports prometheus_client: the library picks
    in-memory or file-backed values once, at import, and forked workers inherit that choice.
    Returns the directory when it made one (the caller removes it), None when it was given.
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return None
    path = tempfile.mkdtemp(prefix="mysafe-bot-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path


def on_starting(server: Any) -> None:
    """prometheus-client's multiprocess mode: every worker writes its samples to this directory
    and /metrics adds them up. Set in the master, before the workers fork.

    Started as `gunicorn -c python:app.ops.gunicorn_conf` (the image, the Procfile), the settings
    and a Socket Mode app token are checked here too, as `mysafe-bot serve` does: a bad setting
    or a token Slack refuses is one line and exit 2, not workers failing in a loop."""
    prepare_multiprocess_dir()  # `mysafe-bot serve` has set it earlier still
    from app.ops import hangup

    # SIGHUP reloads the approval policy in each worker (app.ops.reload), not the workers;
    # a hangup of the terminal the master runs in stops it, as Ctrl-C does (app.ops.hangup).
    hangup.install(server)
    if os.environ.get(CHECKED) != "1":
        _check_settings()


#: Set by `mysafe-bot serve`, which has already checked what `_check_settings` checks.
CHECKED = "MYSAFE_BOT_STARTUP_CHECKED"


def _check_settings() -> None:
    import sys

    from app.foundations.errors import ConfigError
    from app.ops.runtime import load_settings

    try:
        settings = load_settings()
        if settings.slack_app_token:
            from app.slack.socket_mode import check_app_token

            check_app_token(settings)
    except ConfigError as error:
        for problem in getattr(error, "problems", [error]):
            print(
                f"mysafe-bot: configuration error: {problem.variable}: {problem.expected}",
                file=sys.stderr,
            )
        raise SystemExit(2) from None


def pre_fork(server: Any, worker: Any) -> None:
    """The CPU the worker about to start will keep (`app.ops.cpu_pinning`)."""
    cpu_pinning.pre_fork(server, worker)


def post_fork(server: Any, worker: Any) -> None:
    """Hold SIGHUP while the worker starts: gunicorn resets it to "terminate" until the app is
    loaded, and a reload must never kill a worker (see post_worker_init). Keep the CPU the
    master chose, before any thread of the worker exists."""
    import signal

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    cpu_pinning.post_fork(server, worker)


def post_worker_init(worker: Any) -> None:
    """Each worker reloads its policy on SIGHUP (the master forwards it: see on_starting); one
    that came while it started is delivered now.

    A terminal's Ctrl-C reaches the workers too (they share the master's process group), and
    the master then sends them SIGQUIT: a second quit signal entering gunicorn's handler while
    the first is still shutting the thread pool down waits on the pool's lock forever, until
    the master's SIGKILL. The workers leave SIGINT to the master, which tells them once.

    The app is built by now: the collector leaves it alone from here (`app.ops.heap`)."""
    import signal

    from app.ops.heap import settle
    from app.ops.reload import install

    install()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    settle()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})


#: Seconds a worker told to quit (SIGQUIT) gives its threads before it exits regardless.
QUICK_STOP_GRACE = 0.5


def worker_int(worker: Any) -> None:
    """A quick stop is quick: a worker exits once its threads are done, and a thread may be
    waiting seconds for the first bytes of a connection a browser opened ahead of time. Those
    are given `QUICK_STOP_GRACE`; a request being answered ends within it, and an ack not sent
    is one Slack sends again (each is stored before it is acked)."""
    import logging
    import threading

    def leave() -> None:
        logging.shutdown()
        os._exit(0)

    timer = threading.Timer(QUICK_STOP_GRACE, leave)
    timer.daemon = True
    timer.start()


def child_exit(server: object, worker: Any) -> None:
    """Tell prometheus-client a worker is gone, so its live gauges stop counting."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


SETTINGS = {
    name: globals()[name]
    for name in (
        "worker_class",
        "threads",
        "timeout",
        "graceful_timeout",
        "keepalive",
        "limit_request_line",
        "accesslog",
        "control_socket_disable",
        "logger_class",
        "logconfig_dict",
        "on_starting",
        "pre_fork",
        "post_fork",
        "post_worker_init",
        "worker_int",
        "child_exit",
    )
}
