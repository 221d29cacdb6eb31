"""MySafe ChatOps bot: the Flask app factory."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:
    from app.ops.runtime import Runtime


def create_app(
    runtime: Runtime | None = None, *, socket_mode: bool = True, consume: bool | None = None
) -> Flask:
    """Build the web app over a runtime (`app.ops.runtime.build_runtime`, from the environment
    when none is given): health and metrics routes, Slack's route, the ticketing webhook.

    `consume` runs the Slack front's jobs in this process (threads beside the requests'):
    by default only when this call built the runtime, as gunicorn's workers do, and
    `MYSAFE_BOT_WEB_JOBS` is on (`serve` turns it off: its own worker runs them, so the acks
    never share an interpreter with the work); a caller that passes its own runtime starts and
    stops the consumer itself (`runtime.jobs.start_consumer()`).

    Nothing is created at import time; tests pass the runtime they built. Routes reach the
    runtime through the blueprints' closures, never through a string key.
    """
    from app.foundations.logs import configure_logging
    from app.ops.reload import register
    from app.ops.runtime import build_runtime, load_settings
    from app.ops.web import blueprint as web_blueprint

    built = runtime is None
    runtime = runtime or build_runtime(load_settings())
    settings = runtime.settings
    if consume is None:
        consume = built and settings.web_jobs
    configure_logging(settings.log_format)
    register(runtime.engine.policy)  # SIGHUP reloads it (gunicorn's workers: app.ops.reload)
    runtime.engine.in_force.announce()  # a newer policy takes force now, not at the first click

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    if settings.trusted_proxies:
        # Behind N proxies, the client's address is the Nth from the right in X-Forwarded-For
        # (rate limits per webhook sender depend on it). Never trust it without proxies.
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies
        )
    app.register_blueprint(web_blueprint(runtime))
    if runtime.front is not None:
        _mount_slack(app, runtime, socket_mode=socket_mode)
        if consume and runtime.jobs is not None:
            runtime.jobs.start_consumer()
    if settings.demo:
        _mount_demo(app, runtime)
    return app


def _mount_demo(app: Flask, runtime: Runtime) -> None:
    """The demo only: the console at `/` and the Slack Web API it stands in for."""
    from app.sandbox import console, demo_secrets, slack_stand_in
    from app.sandbox.demo_data import keys_to_show
    from app.sandbox.workspace import Workspace

    settings = runtime.settings
    workspace = Workspace(runtime.services.redis, prefix=settings.key_prefix)
    app.register_blueprint(
        slack_stand_in.blueprint(
            slack_stand_in.SlackStandIn(workspace), bot_token=settings.slack_bot_token
        )
    )
    app.register_blueprint(
        console.blueprint(
            console.Console(
                workspace,
                bot_url=settings.demo_url,
                signing_secret=settings.slack_signing_secret,
                keys=keys_to_show(demo_secrets.load(settings.data_dir).seed),
            )
        )
    )


def _mount_slack(app: Flask, runtime: Runtime, *, socket_mode: bool) -> None:
    from app.pages.routes import blueprint as pages_blueprint
    from app.webhooks.routes import blueprint as webhooks_blueprint

    front = runtime.front
    assert front is not None  # checked by the caller
    front.mount(app, socket_mode=socket_mode)
    app.register_blueprint(webhooks_blueprint(runtime))
    # The passkey pages: approvals whose rule asks for step-up are confirmed there, in the
    # language of the link's person as last read from Slack (a page never waits on Slack).
    languages = runtime.languages
    assert languages is not None  # built with the Slack client
    app.register_blueprint(pages_blueprint(runtime.engine, partial(languages.to_person, ask=False)))
