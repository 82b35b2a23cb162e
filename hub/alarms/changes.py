"""The live change hub: ingest and the service publish alarm changes; consoles subscribe to a queue each."""

from __future__ import annotations

import asyncio
import logging
import threading

from hub.alarms.schemas import AlarmChange

__all__ = ["AlarmChanges"]

log = logging.getLogger(__name__)


class AlarmChanges:
    """Fan-out of ``AlarmChange`` to asyncio queues; ``publish`` may be called from any thread.

    A subscriber that falls ``maxsize`` changes behind loses the newest ones (logged): ingest
    never waits for a slow console, and a console reloads the list on reconnect anyway.
    """

    def __init__(self, maxsize: int = 1000) -> None:
        self.maxsize = maxsize
        self._lock = threading.Lock()
        self._queues: dict[asyncio.Queue[AlarmChange], asyncio.AbstractEventLoop] = {}

    def subscribe(self) -> asyncio.Queue[AlarmChange]:
        """A new queue receiving every change from now on (call from the consumer's event loop)."""
        queue: asyncio.Queue[AlarmChange] = asyncio.Queue(self.maxsize)
        with self._lock:
            self._queues[queue] = asyncio.get_running_loop()
        return queue

    def unsubscribe(self, queue: asyncio.Queue[AlarmChange]) -> None:
        """Stop delivering to ``queue`` (idempotent)."""
        with self._lock:
            self._queues.pop(queue, None)

    @property
    def subscribers(self) -> int:
        """How many queues are subscribed."""
        with self._lock:
            return len(self._queues)

    def publish(self, change: AlarmChange) -> None:
        """Deliver ``change`` to every subscriber, from whatever thread."""
        with self._lock:
            targets = list(self._queues.items())
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for queue, loop in targets:
            if loop is running:
                self._put(queue, change)
                continue
            try:
                loop.call_soon_threadsafe(self._put, queue, change)
            except RuntimeError:  # the subscriber's loop is closed: it is gone
                self.unsubscribe(queue)

    @staticmethod
    def _put(queue: asyncio.Queue[AlarmChange], change: AlarmChange) -> None:
        try:
            queue.put_nowait(change)
        except asyncio.QueueFull:
            log.warning(
                "alarm change subscriber is %d changes behind; dropped change for alarm %d",
                queue.qsize(),
                change.alarm.id,
            )
