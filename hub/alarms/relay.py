"""``ChangeListener``: on PostgreSQL, the alarm changes other hub replicas committed, fed to this replica's consoles.

Each writer announces its changes with ``pg_notify`` in the committing transaction (``AlarmChanges.announce``);
PostgreSQL delivers a notification to every listening session once, and only if that transaction committed.
This replica ``LISTEN``s on one connection of its own and publishes each change to its local ``AlarmChanges``,
skipping its own (published locally at commit). Notifications sent while the connection was down are not
replayed: the listener reconnects, and a console reloads its list whenever its own stream reconnects.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

import psycopg

from hub.alarms import lifecycle
from hub.alarms.changes import CHANNEL, AlarmChanges
from hub.alarms.schemas import AlarmChange
from hub.db import Alarm, Database

__all__ = ["ChangeListener"]

log = logging.getLogger(__name__)


class ChangeListener:
    """Publishes to ``changes`` what other replicas announced on the database's notification channel."""

    def __init__(self, db: Database, changes: AlarmChanges, *, poll_s: float = 0.5) -> None:
        if db.dialect != "postgresql":
            raise ValueError(f"a change listener needs PostgreSQL; the database is {db.dialect}")
        self.db = db
        self.changes = changes
        self.poll_s = poll_s
        self.conninfo = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.listening = threading.Event()
        """Set while the ``LISTEN`` connection is up (tests and ``/healthz`` read it)."""
        self.received = 0
        """Changes from other replicas published here."""

    def health(self) -> dict[str, Any]:
        """``/healthz``: whether other replicas' changes reach this one's consoles."""
        return {"ok": self.listening.is_set(), "listening": self.listening.is_set(), "received": self.received}

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until ``stop`` is set, reconnecting with a growing delay while the database is unreachable."""
        delay = 0.5
        while not stop.is_set():
            try:
                conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    delay = 0.5
                    log.info("listening for other replicas' alarm changes on %s", CHANNEL)
                    while not stop.is_set():
                        async for note in conn.notifies(timeout=self.poll_s):
                            await self._deliver(note.payload)
            except psycopg.Error as exc:
                log.warning("alarm change listener lost the database (%s); retrying in %.1f s", exc, delay)
            finally:
                self.listening.clear()
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except TimeoutError:
                delay = min(delay * 2, 10.0)

    async def _deliver(self, payload: str) -> None:
        try:
            note = json.loads(payload)
            if note.get("o") == self.changes.origin:
                return
            if "c" in note:
                change = AlarmChange.model_validate(note["c"])
            else:
                loaded = await asyncio.to_thread(self._load, int(note["id"]), str(note["change"]))
                if loaded is None:
                    return
                change = loaded
        except Exception:  # one bad notification must not stop the feed
            log.exception("unreadable alarm change notification: %.200s", payload)
            return
        self.received += 1
        self.changes.publish(change)

    def _load(self, alarm_id: int, change: str) -> AlarmChange | None:
        with self.db.session() as session:
            alarm = session.get(Alarm, alarm_id)
            return None if alarm is None else AlarmChange(alarm=lifecycle.to_public(alarm), change=change)
