"""The live change hub: ingest and the service publish alarm changes; consoles subscribe to a queue each.

Across hub replicas on PostgreSQL every writer also ``announce``s its changes in the transaction that commits
them (``pg_notify``: delivered if and only if that transaction commits); each replica's ``ChangeListener``
(``hub.alarms.relay``) ``LISTEN``s and publishes what the other replicas announced to its own consoles.
On SQLite (one process) ``announce`` does nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from collections.abc import Iterable
from typing import Final

from sqlalchemy import text
from sqlalchemy.orm import Session

from hub.alarms.schemas import AlarmChange

__all__ = ["CHANNEL", "MAX_PAYLOAD_BYTES", "AlarmChanges"]

CHANNEL: Final = "compound_alarm_changes"
"""The PostgreSQL notification channel of alarm changes."""
MAX_PAYLOAD_BYTES: Final = 7000
"""A change bigger than this (PostgreSQL refuses payloads from 8000 bytes) is announced by alarm id only; the
listeners read the alarm back."""
_NOTIFY = text("SELECT pg_notify(:channel, :payload)")

log = logging.getLogger(__name__)


def _replicated(session: Session) -> bool:
    """Replicas share this database and hear each other's announcements: PostgreSQL (SQLite is one process)."""
    return session.get_bind().dialect.name == "postgresql"


class AlarmChanges:
    """Fan-out of ``AlarmChange`` to asyncio queues; ``publish`` may be called from any thread.

    A subscriber that falls ``maxsize`` changes behind loses the newest ones (logged): ingest
    never waits for a slow console, and a console reloads the list on reconnect anyway.
    """

    def __init__(self, maxsize: int = 1000) -> None:
        self.maxsize = maxsize
        self._lock = threading.Lock()
        self._queues: dict[asyncio.Queue[AlarmChange], asyncio.AbstractEventLoop] = {}
        self.origin = uuid.uuid4().hex[:16]
        """This process's mark on what it announces: its listener skips its own (published locally already)."""

    def announce(self, session: Session, changes: Iterable[AlarmChange]) -> None:
        """Tell the other replicas about ``changes`` once ``session``'s transaction commits (PostgreSQL only).
        Call it inside the transaction that makes the changes; publish them locally after the commit as before.
        """
        if not _replicated(session):
            return  # one process: nothing to serialize
        payloads = []
        for change in changes:
            payload = json.dumps({"o": self.origin, "c": change.model_dump(mode="json")}, ensure_ascii=False)
            if len(payload.encode()) > MAX_PAYLOAD_BYTES:
                payload = self._by_id(change.alarm.id, change.change)
            payloads.append(payload)
        self._notify(session, payloads)

    def announce_ids(self, session: Session, alarm_ids: Iterable[int], change: str) -> None:
        """``announce`` by alarm id only (the listeners read each alarm back): for changes written in bulk, whose
        alarms this transaction has not loaded."""
        if _replicated(session):
            self._notify(session, [self._by_id(alarm_id, change) for alarm_id in alarm_ids])

    def _by_id(self, alarm_id: int, change: str) -> str:
        return json.dumps({"o": self.origin, "id": alarm_id, "change": change})

    @staticmethod
    def _notify(session: Session, payloads: list[str]) -> None:
        """``pg_notify`` each payload in ``session``'s transaction."""
        if payloads:
            session.execute(_NOTIFY, [{"channel": CHANNEL, "payload": payload} for payload in payloads])

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
