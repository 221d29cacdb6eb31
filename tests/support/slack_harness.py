"""Fixtures for end-to-end Slack tests: the bot served over HTTP, the Slack fake, signed clients."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from werkzeug.serving import make_server

from app import create_app
from app.approvals.engine import Engine
from app.foundations.settings import Settings
from app.mysafe.transport import Transport, retry_policy
from app.ops.runtime import Runtime, build_runtime
from app.services import Services
from app.slack.sent_messages import Sent
from tests.support.slack_fake import SlackFake
from tests.support.slack_requests import SlackClient

SIGNING_SECRET = "test-signing-secret"


@dataclass
class Bot:
    url: str
    runtime: Runtime
    app: object

    @property
    def services(self) -> Services:
        return self.runtime.services

    @property
    def engine(self) -> Engine:
        return self.runtime.engine

    def sent(self, request_id: str) -> Sent:
        """Where the Slack front posted the request's approval message (its own bookkeeping)."""
        assert self.runtime.notifier is not None
        return self.runtime.notifier.sent.of(request_id)


@pytest.fixture
def slack() -> Iterator[SlackFake]:
    """The Slack fake; a test fails if the bot sent anything real Slack would have refused, or
    a form whose labels read wrong as Slack shows them."""
    fake = SlackFake(usergroups={"SAPPROVERS": ["UGROUPAPPROVER"]}).start()
    yield fake
    fake.stop()
    assert fake.refused == [], f"Slack would refuse what the bot sent: {fake.refused}"
    assert fake.misread == [], f"labels as Slack shows them: {fake.misread}"


@pytest.fixture
def slack_env(env: dict[str, str], slack: SlackFake) -> dict[str, str]:
    return {
        **env,
        "SLACK_API_URL": f"{slack.url}/api/",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "MYSAFE_BOT_APPROVERS": "UAPPROVER1,UAPPROVER2,UAPPROVER3,SAPPROVERS",
    }


@contextlib.contextmanager
def served_bot(environ: dict[str, str], redis, *, consume: bool = True, port: int = 0) -> Iterator[Bot]:
    """The app built from `environ` as `create_app` builds it, served over loopback HTTP
    (on `port`, or any free one), running its own jobs unless `consume` is False (then
    something else must)."""
    settings = Settings.from_env(environ, dotenv=None)
    transport = Transport(retry=retry_policy(backoff_factor=0, backoff_jitter=0))
    runtime = build_runtime(settings, redis=redis, transport=transport)
    app = create_app(runtime, consume=consume)
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield Bot(f"http://127.0.0.1:{server.server_port}", runtime, app)
    finally:
        server.shutdown()
        server.server_close()
        if runtime.jobs is not None:
            runtime.jobs.stop_consumer()
        transport.close()


@pytest.fixture
def bot(slack_env: dict[str, str], redis) -> Iterator[Bot]:
    with served_bot(slack_env, redis) as served:
        yield served


@pytest.fixture
def user(bot: Bot, slack: SlackFake) -> SlackClient:
    """Slack's servers, as seen by the bot: every request signed with the signing secret."""
    return SlackClient(bot.url, SIGNING_SECRET, slack.response_url)
