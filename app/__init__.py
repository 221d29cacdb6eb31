"""MySafe ChatOps bot: the Flask app factory."""

from __future__ import annotations

from flask import Flask

from app.settings import Settings


def create_app(settings: Settings | None = None, *, services=None) -> Flask:
    """Build the web app: settings, Redis, MySafe client, vault, then the blueprints.

    Nothing is created at import time; tests pass their own settings (and may pass ready
    `Services` to share a Redis connection).
    """
    from app.logs import configure_logging
    from app.services import Services
    from app.web import bp as web_bp

    settings = settings or Settings.from_env()
    configure_logging(settings.log_format)
    services = services or Services.build(settings)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    app.extensions["mysafe_bot"] = services
    app.register_blueprint(web_bp)
    return app
