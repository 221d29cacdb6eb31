"""The web app's operational routes."""

from __future__ import annotations

import threading

import pytest

from app import create_app
from app.foundations.storage import connect
from app.jobs import consumer as consumer_module
from app.jobs.work import Jobs
from app.ops.runtime import assemble
from app.services import Services
from tests.support.waiting import eventually


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


def test_the_console_and_its_slack_stand_in_exist_in_the_demo_only(
    settings, services: Services
) -> None:
    """A real deployment serves no console and no fake Slack API, whatever the request."""
    client = create_app(assemble(services)).test_client()
    assert client.get("/").status_code == 404
    assert client.get("/demo/state", query_string={"as": "U0DEMOPRIYA"}).status_code == 404
    assert client.post("/demo/api/chat.postMessage", json={}).status_code == 404


@pytest.mark.parametrize(("web_jobs", "consumes"), [("", True), ("on", True), ("off", False)])
def test_a_web_process_runs_jobs_unless_told_its_worker_does(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, web_jobs: str, consumes: bool
) -> None:
    """What gunicorn's `app:create_app()` does: with MYSAFE_BOT_WEB_JOBS=off (as `serve` sets
    it for its workers) the process only acks, and never shares its interpreter with work."""
    for name, value in {**env, "MYSAFE_BOT_WEB_JOBS": web_jobs}.items():
        monkeypatch.setenv(name, value)
    started: list[Jobs] = []
    monkeypatch.setattr(Jobs, "start_consumer", lambda jobs: started.append(jobs))
    create_app(socket_mode=False)
    assert len(started) == (1 if consumes else 0)


def test_readyz_says_when_the_job_consumer_of_a_web_process_stopped(
    settings, services: Services
) -> None:
    """A web process that runs jobs (MYSAFE_BOT_WEB_JOBS) is not ready once its consumer's loop
    is gone: its acks would say "Working on …" with nothing here to do the work."""
    runtime = assemble(services)
    assert runtime.front is not None
    client = create_app(runtime).test_client()
    consumer = runtime.jobs.start_consumer()
    try:
        assert client.get("/readyz").status_code == 200
        consumer.stop()  # the loop ends, and the front still counts on it
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json["reason"] == "job consumer: its loop is not running"
    finally:
        runtime.jobs.stop_consumer()


def test_readyz_says_when_the_job_consumer_of_a_web_process_hangs(
    settings, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loop stuck in one call (a read that never returns) is as useless as a dead one."""
    runtime = assemble(services)
    assert runtime.front is not None
    client = create_app(runtime).test_client()
    consumer = runtime.jobs.start_consumer()
    release = threading.Event()
    entered = threading.Event()

    def stuck_read(*_: object, **__: object) -> list[object]:
        entered.set()
        release.wait()
        return []

    monkeypatch.setattr(consumer._reader, "read", stuck_read)
    monkeypatch.setattr(consumer_module, "LOOP_STALE", 0.2)
    try:
        assert entered.wait(5)
        ready = eventually(
            lambda: (r := client.get("/readyz")).status_code == 503 and r, 5, "readyz 503"
        )
        assert ready.json["reason"].startswith("job consumer: its loop has not gone round for")
    finally:
        release.set()
        runtime.jobs.stop_consumer()
