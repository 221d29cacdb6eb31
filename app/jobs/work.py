"""A process's durable work: the queue its acks store into, the handlers registered for each
kind (`app.jobs.registry`), and the consumer that runs them when this process runs jobs.

Built by the assembly (`app.ops.runtime`); web processes and `mysafe-bot worker` start and stop the
consumer through it, and fronts store their jobs through it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import redis

from app.jobs.consumer import Consumer
from app.jobs.queue import JobQueue, Limit, Taken
from app.jobs.registry import Registry
from app.jobs.spare_cpu import behind_the_acks

log = logging.getLogger(__name__)


class Jobs:
    def __init__(
        self,
        queue: JobQueue,
        registry: Registry,
        *,
        threads: int,
        per_person: int,
        mysafe_concurrency: int,
        visibility: float,
        paused: Callable[[], bool] = lambda: False,
    ) -> None:
        self.queue = queue
        self.registry = registry
        self.threads = threads
        self.per_person = per_person
        self.mysafe_concurrency = mysafe_concurrency
        self.visibility = visibility
        self.paused = paused
        #: Running in this process when started (`start_consumer`), else None.
        self.consumer: Consumer | None = None

    def store(self, kind: str, body: dict[str, Any], *, who: str, limit: Limit | None = None) -> bool:
        """Put the job in Redis before the ack promises it; False when Redis cannot take it.
        With a `limit`, counted in the same step: `OverLimit` when past it, nothing stored."""
        try:
            self.queue.put(kind, body, who=who, limit=limit)
        except redis.RedisError as error:
            self._not_stored(kind, error)
            return False
        return True

    @staticmethod
    def _not_stored(kind: str, error: redis.RedisError) -> None:
        log.warning(
            "job not stored",
            extra={"event": "jobs.not_stored", "kind": kind, "error": type(error).__name__},
        )

    def take(
        self, kind: str, body: dict[str, Any], *, who: str, limit: Limit, read: str
    ) -> Taken | None:
        """`store` with the person's count taken and the key `read` read in the same step (the
        ack's one round trip: `JobQueue.take`); None when Redis cannot take it."""
        try:
            return self.queue.take(kind, body, who=who, limit=limit, read=read)
        except redis.RedisError as error:
            self._not_stored(kind, error)
            return None

    def pending(self) -> int:
        """Jobs stored and not yet done, in the whole deployment."""
        return self.queue.pending()

    def start_consumer(
        self, *, spare_cpu: bool = False, flood_hold: Callable[[], float] = lambda: 0.0
    ) -> Consumer:
        """Run the registered kinds' jobs in this process, within the bounds given; with
        `spare_cpu`, at a lower CPU priority than the acks, starting none while `flood_hold` says
        (`app.jobs.spare_cpu`)."""
        self.consumer = Consumer(
            self.queue,
            self.registry.handlers(),
            threads=self.threads,
            per_person=self.per_person,
            mysafe_concurrency=self.mysafe_concurrency,
            visibility=self.visibility,
            paused=self.paused,
            flood_hold=flood_hold,
            on_thread=behind_the_acks if spare_cpu else None,
        ).start()
        return self.consumer

    def stop_consumer(self) -> None:
        if self.consumer is not None:
            self.consumer.stop()
            self.consumer = None
