"""The web app's operational routes."""

from __future__ import annotations

from app import create_app
from app.runtime import assemble
from app.services import Services
from app.storage import connect


def test_healthz_and_readyz(settings, services: Services) -> None:
    client = create_app(assemble(services)).test_client()
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["status"] == "ready"


def test_readyz_is_503_when_redis_is_down(settings, services: Services, tmp_path) -> None:
    services.redis = connect(f"unix://{tmp_path}/nothing-listens-here.sock")
    ready = create_app(assemble(services)).test_client().get("/readyz")
    assert ready.status_code == 503
    assert ready.json["reason"].startswith("redis")


def test_metrics_are_prometheus_text(settings, services: Services) -> None:
    response = create_app(assemble(services)).test_client().get("/metrics")
    assert response.status_code == 200
    assert "mysafe_bot_token_fetches_total" in response.get_data(as_text=True)


def test_the_console_and_its_slack_stand_in_exist_in_the_demo_only(settings,
                                                                     services: Services) -> None:
    """A real deployment serves no console and no fake Slack API, whatever the request."""
    client = create_app(assemble(services)).test_client()
    assert client.get("/").status_code == 404
    assert client.get("/demo/state", query_string={"as": "U0DEMOPRIYA"}).status_code == 404
    assert client.post("/demo/api/chat.postMessage", json={}).status_code == 404
