"""A consumer's blocking reads, on a connection of their own, so that a stop ends them at once.

XREADGROUP blocks for up to a second while the stream is idle; a consumer that is stopping
would otherwise wait that second out (every process exit, every test's teardown). Holding the
read on one dedicated connection gives it a client id, and `wake` ends the read in progress
with CLIENT UNBLOCK from another connection to the same server.
"""

from __future__ import annotations

import contextlib
import threading

import redis
from redis.cluster import RedisCluster

from app.jobs.queue import Job, JobQueue


class Reader:
    def __init__(self, queue: JobQueue) -> None:
        self.queue = queue
        self._lock = threading.Lock()
        self._server: redis.Redis | None = None  # any connection to the stream's server
        self._held: redis.Redis | None = None  # the one connection the reads block on
        self._id: int | None = None

    def read(self, consumer: str, *, count: int, block_ms: int) -> list[Job]:
        """`JobQueue.read` on the held connection; a read that fails gives it up, so the next
        one starts afresh (the stream may have moved to another node of a cluster)."""
        try:
            return self.queue.read(consumer, count=count, block_ms=block_ms, via=self._connected())
        except redis.RedisError:
            self.close()
            raise

    def wake(self) -> None:
        """End the read in progress, if any: it raises `redis.ResponseError` (UNBLOCKED)."""
        with self._lock:
            server, held = self._server, self._id
        if server is not None and held is not None:
            with contextlib.suppress(redis.RedisError):
                server.client_unblock(held, error=True)

    def close(self) -> None:
        with self._lock:
            held, self._held, self._server, self._id = self._held, None, None, None
        if held is not None:
            with contextlib.suppress(redis.RedisError):
                held.close()

    def _connected(self) -> redis.Redis:
        with self._lock:
            if self._held is None:
                server = self._server_of_the_stream()
                held = redis.Redis(
                    connection_pool=server.connection_pool, single_connection_client=True
                )
                self._id = int(held.client_id())
                self._server, self._held = server, held
            return self._held

    def _server_of_the_stream(self) -> redis.Redis:
        client = self.queue.redis
        if isinstance(client, RedisCluster):
            node = client.get_node_from_key(self.queue.stream)
            if node is None or node.redis_connection is None:
                raise redis.ConnectionError("no node serves the job stream")
            return node.redis_connection
        return client
