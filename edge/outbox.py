"""The on-disk outbox: every message waits in SQLite until the broker's PUBACK says it arrived.

Why one module over 400 lines: every guarantee below is a property of transactions on the one SQLite
connection, under the one lock, of the one ``Outbox`` that holds the file's ``flock``. An event, its
``seq``, its journal copy and its ``state`` changes commit together, and the depth counters and limits
are kept against those same transactions; a separate journal or state module would have to share the
connection, the lock and the counters, so the split would be in name only. The exceptions and small
types that a split could move out are a few dozen lines and are part of the contract of ``put``.

Guarantees:

- ``put`` returns only after the row is committed (WAL, ``synchronous=FULL`` by default: the commit
  is on disk before ``put`` returns, so it survives a process crash *and* a power cut; ``NORMAL``
  would survive a crash but may lose the last commits on power loss). Readings are stored in one
  transaction per tick and acknowledgements deleted in batches, so the fsync cost is per batch.
- A row is deleted only by ``ack`` (called on the broker's PUBACK; the delete is not fsynced on its own, so a
  power cut may bring an acknowledged row back to be sent again, never lose a stored one); rows are handed out in
  insertion order per lane, events before readings, and handed out again from the start after a reopen.
- A put stores its rows with one multi-row INSERT per 100 (``ROWS_PER_INSERT``), its state changes with one
  statement each (the last change of a key wins, as when applied one by one).
- Bounded: at most ``max_messages`` rows, of which readings may take at most ``max_readings``, so
  ``max_messages - max_readings`` slots are always kept for events. A full outbox or a full disk
  (SQLite's "database or disk is full", also produced by the ``max_bytes`` quota) raises
  ``OutboxFull`` / ``DiskFull``, is logged and counted in ``dropped``; nothing is dropped silently.
- Event sequence numbers are assigned in the same transaction that stores the event, so ``seq``
  is gap-free and monotonic across restarts; small key/value ``state`` rides in the same transaction.
- Sent-journal: every event's exact topic and payload is also kept in ``journal`` (same transaction),
  after its PUBACK too, bounded by ``journal_max_events`` and ``journal_max_age_s`` (whichever first).
  ``requeue(from_seq, to_seq)`` puts journaled events back into the outbox (same id, same bytes) when
  the hub asks for a replay; depth and limits count only the outbox (unacknowledged) rows.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Literal

__all__ = [
    "DiskFull",
    "Entry",
    "Lane",
    "Outbox",
    "OutboxCounts",
    "OutboxError",
    "OutboxFull",
    "OutboxInUse",
    "OutboxUnreadable",
]

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    lane    INTEGER NOT NULL,
    topic   TEXT    NOT NULL,
    payload BLOB    NOT NULL,
    qos     INTEGER NOT NULL,
    retain  INTEGER NOT NULL,
    seq     INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_lane ON outbox (lane, id);
CREATE INDEX IF NOT EXISTS outbox_seq ON outbox (seq) WHERE seq IS NOT NULL;
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS journal (
    seq       INTEGER PRIMARY KEY,
    topic     TEXT    NOT NULL,
    payload   BLOB    NOT NULL,
    qos       INTEGER NOT NULL,
    stored_at REAL    NOT NULL
);
CREATE INDEX IF NOT EXISTS journal_stored_at ON journal (stored_at);
"""

ROWS_PER_INSERT = 100
"""Rows per multi-row INSERT (at most 6 values each: under SQLite's old limit of 999 bound variables). One statement
per 100 rows instead of one per row: a tick's store holds the GIL for a few statements, not hundreds, while paho's
thread publishes (``bench/edge_publish.py``)."""

JOURNAL_MAX_EVENTS = 100_000
JOURNAL_MAX_AGE_S = 7 * 86_400.0

Synchronous = Literal["FULL", "NORMAL", "EXTRA"]


class Lane(IntEnum):
    """Priority class of a message: events are never crowded out by readings."""

    EVENT = 0
    READING = 1


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored message."""

    id: int
    lane: Lane
    topic: str
    payload: bytes
    qos: int
    retain: bool


class OutboxError(Exception):
    """The outbox could not store a message; ``lane`` says which kind."""

    def __init__(self, message: str, lane: Lane) -> None:
        super().__init__(message)
        self.lane = lane


class OutboxInUse(RuntimeError):
    """Another process holds this outbox (two agents for one edge would publish everything twice)."""


class OutboxUnreadable(RuntimeError):
    """An outbox file that exists but cannot be read from outside (still being created, or not an outbox)."""


@dataclass(frozen=True, slots=True)
class OutboxCounts:
    """An outbox seen from outside its agent: the last event seq it assigned and the messages waiting per lane."""

    last_seq: int
    events_waiting: int
    readings_waiting: int


class OutboxFull(OutboxError):
    """The outbox holds its maximum number of messages for this lane."""


class DiskFull(OutboxError):
    """SQLite reported 'database or disk is full' (the disk, or the ``max_bytes`` quota)."""


def _is_full(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "is full" in str(exc)


def _insert(head: str, rows: Sequence[Sequence[object]], tail: str = "") -> tuple[str, Sequence[object]]:
    """One multi-row INSERT (``head`` up to VALUES, then ``tail``) for ``rows``, and its parameters in order."""
    if len(rows) == 1:  # one message per put (``put``, ``put_sequenced``): no parameter list to build
        return _sql(head, len(rows[0]), 1, tail), rows[0]
    return _sql(head, len(rows[0]), len(rows), tail), [v for row in rows for v in row]


@functools.cache
def _sql(head: str, width: int, count: int, tail: str) -> str:
    """``head VALUES (?, ...), ... tail``: ``count`` rows of ``width`` placeholders (the same string each time:
    sqlite3's statement cache finds it at once)."""
    return f"{head} VALUES {', '.join(['(' + ', '.join('?' * width) + ')'] * count)}{tail}"


class Outbox:
    """A bounded, durable FIFO of MQTT messages per lane, in one SQLite file."""

    def __init__(
        self,
        path: str | Path,
        *,
        max_messages: int = 100_000,
        max_readings: int | None = None,
        max_bytes: int | None = None,
        synchronous: Synchronous = "FULL",
        journal_max_events: int = JOURNAL_MAX_EVENTS,
        journal_max_age_s: float = JOURNAL_MAX_AGE_S,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if max_messages < 2:
            raise ValueError("max_messages must be at least 2")
        if journal_max_events < 0 or journal_max_age_s < 0:
            raise ValueError("journal bounds must be >= 0 (0 keeps no journal)")
        self.journal_max_events = journal_max_events
        self.journal_max_age_s = journal_max_age_s
        self._wall = wall
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_messages = max_messages
        self.max_readings = max_messages // 2 if max_readings is None else max_readings
        if not 0 <= self.max_readings < max_messages:
            raise ValueError("max_readings must be below max_messages (room must stay for events)")
        self._lock = threading.Lock()
        self._lockfile = open(self.path.with_name(self.path.name + ".lock"), "a+b")  # noqa: SIM115 - held open
        try:
            fcntl.flock(self._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lockfile.close()
            raise OutboxInUse(f"outbox {self.path} is in use by another process") from None
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._synchronous = synchronous
        self._migrate()
        self._db.executescript(SCHEMA)
        if max_bytes is not None:
            page = int(self._db.execute("PRAGMA page_size").fetchone()[0])
            self._db.execute(f"PRAGMA max_page_count={max(8, max_bytes // page)}")
        self._depth = {lane: 0 for lane in Lane}
        self._stored = {lane: 0 for lane in Lane}
        for lane, count in self._db.execute("SELECT lane, COUNT(*) FROM outbox GROUP BY lane"):
            self._depth[Lane(lane)] = int(count)
        self.dropped = int(self.get_state("dropped") or 0)
        self.full = False
        self._ack_later: list[int] = []
        """Acknowledged row ids a full disk kept from being deleted: deleted with the next ``ack``."""
        if self.depth():
            log.info("outbox %s reopened with %d message(s) to replay", self.path, self.depth())

    @staticmethod
    def read_counts(path: str | Path) -> OutboxCounts | None:
        """Counts of the outbox at ``path``, read-only and without its lock (its agent may be writing it).

        ``None`` when there is no outbox there yet; ``OutboxUnreadable`` when the file cannot be read as one.
        """
        path = Path(path)
        if not path.exists():
            return None
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        except sqlite3.Error as exc:
            raise OutboxUnreadable(f"cannot open outbox {path}: {exc}") from exc
        try:
            row = conn.execute("SELECT value FROM state WHERE key = 'seq'").fetchone()
            waiting = {int(lane): int(n) for lane, n in conn.execute("SELECT lane, COUNT(*) FROM outbox GROUP BY lane")}
        except sqlite3.Error as exc:
            raise OutboxUnreadable(f"cannot read outbox {path}: {exc}") from exc
        finally:
            conn.close()
        return OutboxCounts(
            last_seq=int(row[0]) if row else 0,
            events_waiting=waiting.get(Lane.EVENT, 0),
            readings_waiting=waiting.get(Lane.READING, 0),
        )

    def _migrate(self) -> None:
        """Outboxes written before the journal existed lack ``outbox.seq``: add it (NULL for old rows)."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
        if columns and "seq" not in columns:
            self._db.execute("ALTER TABLE outbox ADD COLUMN seq INTEGER")

    # ---- counters
    def depth(self, lane: Lane | None = None) -> int:
        """Messages waiting for an acknowledgement (in one lane, or all)."""
        return self._depth[lane] if lane is not None else sum(self._depth.values())

    def stored(self, lane: Lane) -> int:
        """Rows committed to ``lane`` since this outbox was opened: it only grows, so unchanged means no new row."""
        return self._stored[lane]

    def _room(self, lane: Lane) -> int:
        total_room = self.max_messages - self.depth()
        if lane is Lane.READING:
            return min(total_room, self.max_readings - self._depth[Lane.READING])
        return total_room

    def _refuse(self, lane: Lane, count: int, exc: OutboxError, *, kept: bool = False) -> OutboxError:
        self.full = True
        if kept:  # the caller holds them and offers them again: refused for now, not given up
            log.error("outbox refused %d %s message(s): %s (kept, to retry)", count, lane.name.lower(), exc)
            return exc
        self.dropped += count
        # On a full disk the counter itself may not be storable; it is still kept in memory.
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("INSERT OR REPLACE INTO state VALUES ('dropped', ?)", (str(self.dropped),))
        log.error(
            "outbox refused %d %s message(s): %s (dropped so far: %d)", count, lane.name.lower(), exc, self.dropped
        )
        return exc

    # ---- writing
    def put(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False, lane: Lane = Lane.EVENT) -> int:
        """Store one message; return its row id. Raises ``OutboxFull`` or ``DiskFull``."""
        return self.put_many([(topic, payload)], qos=qos, retain=retain, lane=lane)[0]

    def put_many(
        self, items: Sequence[tuple[str, bytes]], *, qos: int = 1, retain: bool = False, lane: Lane = Lane.READING
    ) -> list[int]:
        """Store messages in one transaction, all or as many as fit; raise if any did not fit.

        When only some fit, the first ones are stored and committed, then ``OutboxFull`` is raised
        for the rest (counted in ``dropped``).
        """
        with self._lock:
            room = self._room(lane)
            fitting = list(items[: max(0, room)])
            ids: list[int] = []
            if fitting:
                try:
                    self._db.execute("BEGIN IMMEDIATE")
                    rows = [(int(lane), topic, payload, qos, int(retain)) for topic, payload in fitting]
                    for start in range(0, len(rows), ROWS_PER_INSERT):
                        sql, params = _insert(
                            "INSERT INTO outbox (lane, topic, payload, qos, retain)",
                            rows[start : start + ROWS_PER_INSERT],
                            " RETURNING id",
                        )
                        # RETURNING's order is unspecified; the rows' ids ascend in VALUES order.
                        ids.extend(sorted(int(r[0]) for r in self._db.execute(sql, params)))
                    self._db.execute("COMMIT")
                except sqlite3.Error as exc:
                    self._rollback()
                    if _is_full(exc):
                        raise self._refuse(lane, len(items), DiskFull(f"outbox {self.path}: {exc}", lane)) from exc
                    raise
                self._depth[lane] += len(ids)
                self._stored[lane] += len(ids)
            if len(fitting) < len(items):
                missing = len(items) - len(fitting)
                limit = self.max_readings if lane is Lane.READING else self.max_messages
                raise self._refuse(
                    lane, missing, OutboxFull(f"outbox {self.path} full ({limit} {lane.name.lower()} slots)", lane)
                )
            self.full = False
            return ids

    def put_sequenced(
        self,
        build: Callable[[int], tuple[str, bytes]],
        *,
        qos: int = 1,
        state: Mapping[str, str | None] | None = None,
    ) -> int:
        """Store an event whose payload needs the next ``seq``; seq, row and ``state`` commit together.

        ``build(seq)`` returns (topic, payload). ``state`` values of None delete the key. Returns the seq.
        """
        return self.put_sequenced_many([(build, state or {})], qos=qos)[0]

    def put_sequenced_many(
        self,
        items: Sequence[tuple[Callable[[int], tuple[str, bytes]], Mapping[str, str | None]]],
        *,
        qos: int = 1,
        kept: bool = False,
    ) -> list[int]:
        """Store several sequenced events (with their state changes) in one transaction; return their seqs.

        As many as fit are stored; if some did not fit, ``OutboxFull`` is raised after the others commit.
        ``kept``: the caller keeps the refused events and offers them again (the agent's in-memory backlog), so a
        refusal is logged but not counted in ``dropped``, which counts only messages given up.
        """
        with self._lock:
            fitting = list(items[: max(0, self._room(Lane.EVENT))])
            seqs: list[int] = []
            if fitting:
                try:
                    self._db.execute("BEGIN IMMEDIATE")
                    row = self._db.execute("SELECT value FROM state WHERE key = 'seq'").fetchone()
                    seq = int(row[0]) if row else 0
                    stored_at = self._wall()
                    messages: list[tuple[int, str, bytes, int, int, int]] = []
                    changes: dict[str, str | None] = {}  # in order, the last change of a key wins: as one by one
                    for build, state in fitting:
                        seq += 1
                        topic, payload = build(seq)
                        messages.append((int(Lane.EVENT), topic, payload, qos, 0, seq))
                        changes.update(state)
                        seqs.append(seq)
                    for start in range(0, len(messages), ROWS_PER_INSERT):
                        rows = messages[start : start + ROWS_PER_INSERT]
                        self._db.execute(*_insert("INSERT INTO outbox (lane, topic, payload, qos, retain, seq)", rows))
                        if self.journal_max_events:
                            copies = [(s, topic, payload, q, stored_at) for _, topic, payload, q, _, s in rows]
                            self._db.execute(*_insert("INSERT OR REPLACE INTO journal", copies))
                    if gone := [(key,) for key, value in changes.items() if value is None]:
                        self._db.executemany("DELETE FROM state WHERE key = ?", gone)
                    if kept_values := [(key, value) for key, value in changes.items() if value is not None]:
                        self._db.executemany("INSERT OR REPLACE INTO state VALUES (?, ?)", kept_values)
                    self._db.execute("INSERT OR REPLACE INTO state VALUES ('seq', ?)", (str(seq),))
                    self._prune_journal(seq, stored_at)
                    self._db.execute("COMMIT")
                except sqlite3.Error as exc:
                    self._rollback()
                    if _is_full(exc):
                        raise self._refuse(
                            Lane.EVENT, len(items), DiskFull(f"outbox {self.path}: {exc}", Lane.EVENT), kept=kept
                        ) from exc
                    raise
                except BaseException:
                    self._rollback()
                    raise
                self._depth[Lane.EVENT] += len(seqs)
                self._stored[Lane.EVENT] += len(seqs)
            if len(fitting) < len(items):
                raise self._refuse(
                    Lane.EVENT,
                    len(items) - len(fitting),
                    OutboxFull(f"outbox {self.path} full ({self.max_messages} messages)", Lane.EVENT),
                    kept=kept,
                )
            self.full = False
            return seqs

    def _prune_journal(self, last_seq: int, now: float) -> None:
        """Keep at most ``journal_max_events`` journaled events, none older than ``journal_max_age_s``."""
        self._db.execute("DELETE FROM journal WHERE seq <= ?", (last_seq - self.journal_max_events,))
        self._db.execute("DELETE FROM journal WHERE stored_at < ?", (now - self.journal_max_age_s,))

    # ---- sent-journal (replays requested by the hub)
    def journal_bounds(self) -> tuple[int, int, int]:
        """(first seq, last seq, count) of the journal; (0, 0, 0) when empty."""
        with self._lock:
            lo, hi, n = self._db.execute("SELECT MIN(seq), MAX(seq), COUNT(*) FROM journal").fetchone()
        return (int(lo or 0), int(hi or 0), int(n))

    def requeue(self, from_seq: int, to_seq: int, limit: int | None = None) -> list[int]:
        """Put journaled events ``from_seq..to_seq`` back into the outbox; return the seqs requeued.

        Events still waiting in the outbox are skipped (they are on their way). At most ``limit`` (default:
        half the room left for events, so a replay never crowds out new events) go in one transaction; the
        hub asks again for the rest.
        """
        with self._lock:
            room = self._room(Lane.EVENT) // 2 if limit is None else min(limit, self._room(Lane.EVENT))
            if room <= 0 or to_seq < from_seq:
                return []
            try:
                self._db.execute("BEGIN IMMEDIATE")
                rows = self._db.execute(
                    "INSERT INTO outbox (lane, topic, payload, qos, retain, seq) "
                    "SELECT ?, j.topic, j.payload, j.qos, 0, j.seq FROM journal j "
                    "WHERE j.seq BETWEEN ? AND ? AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.seq = j.seq) "
                    "ORDER BY j.seq LIMIT ? RETURNING seq",
                    (int(Lane.EVENT), from_seq, to_seq, room),
                ).fetchall()
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                if _is_full(exc):
                    log.error("outbox %s: cannot requeue seq %d..%d: %s", self.path, from_seq, to_seq, exc)
                    return []
                raise
            seqs = sorted(int(r[0]) for r in rows)
            self._depth[Lane.EVENT] += len(seqs)
            self._stored[Lane.EVENT] += len(seqs)
            return seqs

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    # ---- reading and acknowledging
    def pending(self, lane: Lane, after: int = 0, limit: int = 64) -> list[Entry]:
        """Up to ``limit`` stored messages of ``lane`` with row id above ``after``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, payload, qos, retain FROM outbox WHERE lane = ? AND id > ? ORDER BY id LIMIT ?",
                (int(lane), after, limit),
            ).fetchall()
        return [Entry(int(r[0]), lane, r[1], bytes(r[2]), int(r[3]), bool(r[4])) for r in rows]

    def ack(self, ids: Iterable[int]) -> int:
        """Delete acknowledged messages in one transaction; return how many were removed.

        On a full disk (a delete needs room in the WAL) the ids are kept in memory and deleted with the next
        ``ack`` instead of raising: the publisher goes on sending (it hands rows out by cursor, so nothing is
        sent twice in this run; rows still there at a restart are sent again and the hub's unique id absorbs
        them). Raising here stopped the publisher for good: found by the fault suite's disk-full row.

        The delete commits without its own fsync (``synchronous=NORMAL`` for this transaction only): the WAL is
        appended in order, so the next stored message's fsync makes the delete durable with it, and a power cut
        before that only loses the delete, i.e. the row is sent again after the restart (the hub drops the copy
        by event id), never a stored message. An fsync per PUBACK batch cost the publisher a third of its rate
        (``bench/edge_publish.py``).
        """
        new = list(ids)
        with self._lock:
            id_list = [*self._ack_later, *new]
            if not id_list:
                return 0
            removed: dict[Lane, int] = {lane: 0 for lane in Lane}
            relaxed = self._synchronous != "NORMAL"
            try:
                if relaxed:  # no fsync for a delete: a lost one only sends a row again (see the docstring)
                    self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute("BEGIN IMMEDIATE")
                for start in range(0, len(id_list), 500):
                    chunk = id_list[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    for (lane,) in self._db.execute(
                        f"DELETE FROM outbox WHERE id IN ({marks}) RETURNING lane", chunk
                    ).fetchall():
                        removed[Lane(lane)] += 1
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                if not _is_full(exc):
                    raise
                self._ack_later = id_list
                self.full = True
                log.error("outbox %s: %d acknowledged message(s) stay until the disk has room: %s", self.path,
                          len(id_list), exc)  # fmt: skip
                return 0
            finally:
                if relaxed:
                    self._db.execute(f"PRAGMA synchronous={self._synchronous}")
            self._ack_later = []
            for lane, count in removed.items():
                self._depth[lane] -= count
            return sum(removed.values())

    # ---- small durable state (seq, open conditions, resume point)
    def last_seq(self) -> int:
        """The last event sequence number assigned (0 before the first event)."""
        return int(self.get_state("seq") or 0)

    def get_state(self, key: str) -> str | None:
        """A stored state value."""
        with self._lock:
            row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def states(self, prefix: str) -> dict[str, str]:
        """Every state entry whose key starts with ``prefix``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key, value FROM state WHERE substr(key, 1, ?) = ?", (len(prefix), prefix)
            ).fetchall()
        return {str(k): str(v) for k, v in rows}

    def set_state(self, key: str, value: str | None) -> None:
        """Store (or delete, with None) one state value; a full disk is logged, not raised."""
        with self._lock:
            try:
                if value is None:
                    self._db.execute("DELETE FROM state WHERE key = ?", (key,))
                else:
                    self._db.execute("INSERT OR REPLACE INTO state VALUES (?, ?)", (key, value))
            except sqlite3.Error as exc:
                if not _is_full(exc):
                    raise
                log.error("outbox %s: cannot store state %r: %s", self.path, key, exc)

    def close(self) -> None:
        """Close the database (a checkpoint folds the WAL back into the file)."""
        with self._lock:
            self._db.close()
            self._lockfile.close()  # releases the flock
