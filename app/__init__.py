"""MySafe ChatOps bot: the Flask app factory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

from app.settings import Settings

if TYPE_CHECKING:
    from app.services import Services


def create_app(settings: Settings | None = None, *, services: Services | None = None,
               socket_mode: bool = True) -> Flask:
    """Build the web app: settings, Redis, MySafe client, vault, then the blueprints.

    Nothing is created at import time; tests pass their own settings (and may pass ready
    `Services` to share a Redis connection).
    """
    from app.logs import configure_logging
    from app.ops.web import bp as web_bp
    from app.services import Services

    settings = settings or Settings.from_env()
    configure_logging(settings.log_format)
    services = services or Services.build(settings)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    if settings.trusted_proxies:
        # Behind N proxies, the client's address is the Nth from the right in X-Forwarded-For
        # (rate limits per webhook sender depend on it). Never trust it without proxies.
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies,  # type: ignore[method-assign]
                                x_proto=settings.trusted_proxies)
    app.extensions["mysafe_bot"] = services
    app.register_blueprint(web_bp)
    if settings.slack_bot_token:
        _mount_slack(app, services, socket_mode=socket_mode)
    return app


def _mount_slack(app: Flask, services: Services, *, socket_mode: bool) -> None:
    from app.slack.front import SlackFront, make_web_client, register_slack
    from app.wiring import build_engine

    client = make_web_client(services)
    engine = build_engine(services, client)
    front = SlackFront(services, engine, client)
    register_slack(app, front)
    from app.webhooks.routes import bp as webhooks_bp

    app.register_blueprint(webhooks_bp)
    app.extensions["mysafe_bot_engine"] = engine
    app.extensions["mysafe_bot_slack"] = front
    if services.settings.slack_app_token and socket_mode:
        from app.slack.socket_mode import start_socket_mode

        # In the background: Slack being away must not take the HTTP routes down with it.
        app.extensions["mysafe_bot_socket"] = start_socket_mode(
            front.bolt, services.settings.slack_app_token)
