"""Tests of the on-disk outbox: bounds, order, acknowledgement, crash recovery, full reporting."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.outbox import DiskFull, Lane, Outbox, OutboxCounts, OutboxFull, OutboxUnreadable
from tests.support import needs_root_mount


def test_messages_come_back_in_order_until_acknowledged(tmp_path: Path) -> None:
    """Test that pending() returns messages oldest first and ack() removes exactly the acknowledged ones."""
    box = Outbox(tmp_path / "o.db")
    ids = [box.put(f"t/{i}", f"p{i}".encode()) for i in range(10)]
    assert [e.topic for e in box.pending(Lane.EVENT, limit=100)] == [f"t/{i}" for i in range(10)]
    assert [e.id for e in box.pending(Lane.EVENT, after=ids[4], limit=3)] == ids[5:8]
    assert box.ack([*ids[:3], ids[7]]) == 4
    assert box.depth() == 6
    assert [e.payload for e in box.pending(Lane.EVENT)] == [b"p3", b"p4", b"p5", b"p6", b"p8", b"p9"]
    assert box.ack([ids[0]]) == 0  # acknowledging twice is harmless
    box.close()


def test_lanes_are_separate_and_events_keep_their_room(tmp_path: Path) -> None:
    """Test that readings cannot take the slots reserved for events, and a full lane raises OutboxFull."""
    box = Outbox(tmp_path / "o.db", max_messages=10, max_readings=4)
    box.put_many([(f"r/{i}", b"r") for i in range(3)], lane=Lane.READING)
    with pytest.raises(OutboxFull) as err:
        box.put_many([(f"r/{i}", b"r") for i in range(3, 6)], lane=Lane.READING)
    assert err.value.lane is Lane.READING
    assert box.depth(Lane.READING) == 4  # the one that fitted was stored
    assert box.dropped == 2
    for i in range(6):
        box.put(f"e/{i}", b"e")
    with pytest.raises(OutboxFull):
        box.put("e/overflow", b"e")
    assert box.full and box.dropped == 3
    assert box.depth() == 10
    box.ack([e.id for e in box.pending(Lane.READING)])
    box.put("e/now-fits", b"e")
    assert not box.full
    box.close()


def test_sequence_numbers_are_gap_free_and_survive_reopen(tmp_path: Path) -> None:
    """Test that put_sequenced assigns 1, 2, 3... with the row and state, and continues after a reopen."""
    box = Outbox(tmp_path / "o.db")
    seqs = [box.put_sequenced(lambda s: (f"ev/{s}", str(s).encode()), state={"cond:a": "x"}) for _ in range(3)]
    assert seqs == [1, 2, 3]
    box.put_sequenced(lambda s: ("ev/4", b"4"), state={"cond:a": None, "cond:b": "y"})
    box.close()
    box = Outbox(tmp_path / "o.db")
    assert box.last_seq() == 4
    assert box.states("cond:") == {"cond:b": "y"}
    assert box.put_sequenced(lambda s: (f"ev/{s}", b"")) == 5
    assert [e.topic for e in box.pending(Lane.EVENT)] == ["ev/1", "ev/2", "ev/3", "ev/4", "ev/5"]
    box.close()


def test_a_failing_build_stores_nothing(tmp_path: Path) -> None:
    """Test that an exception while building an event rolls back the seq and the row."""
    box = Outbox(tmp_path / "o.db")

    def broken(seq: int) -> tuple[str, bytes]:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        box.put_sequenced(broken)
    assert box.last_seq() == 0 and box.depth() == 0
    box.close()


def test_messages_survive_a_process_crash(tmp_path: Path) -> None:
    """Test that rows committed by a process killed without closing the database are replayed on reopen."""
    script = textwrap.dedent(
        f"""
        import os
        from edge.outbox import Outbox
        box = Outbox({str(tmp_path / "o.db")!r})
        ids = [box.put(f"t/{{i}}", b"x") for i in range(50)]
        box.ack(ids[:20])
        box.put_sequenced(lambda s: ("seq", str(s).encode()))
        os._exit(0)  # no close, no checkpoint: like SIGKILL
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60, cwd=Path(__file__).parents[2])
    box = Outbox(tmp_path / "o.db")
    pending = box.pending(Lane.EVENT, limit=1000)
    assert [e.topic for e in pending] == [f"t/{i}" for i in range(20, 50)] + ["seq"]
    assert box.last_seq() == 1
    box.close()


@pytest.mark.parametrize("synchronous", ["FULL", "EXTRA", "NORMAL"])
def test_an_ack_skips_its_own_fsync_but_every_stored_message_keeps_it(tmp_path: Path, synchronous: str) -> None:
    """Test that an acknowledgement commits with synchronous=NORMAL (a lost delete only sends a row again) and the
    outbox's own setting is back for the next message stored, so a put is still on disk before it returns."""
    box = Outbox(tmp_path / "o.db", synchronous=synchronous)  # type: ignore[arg-type]
    levels = {"0": "OFF", "1": "NORMAL", "2": "FULL", "3": "EXTRA"}
    seen: list[str] = []
    box._db.set_trace_callback(
        lambda sql: seen.append(sql) if sql.startswith(("PRAGMA synchronous", "COMMIT")) else None
    )
    ids = [box.put(f"t/{i}", b"x") for i in range(3)]
    assert box.ack(ids[:2]) == 2
    box.put("t/3", b"x")
    box._db.set_trace_callback(None)
    assert levels[str(box._db.execute("PRAGMA synchronous").fetchone()[0])] == synchronous
    if synchronous == "NORMAL":
        assert seen == ["COMMIT"] * 5
    else:
        assert seen == [*["COMMIT"] * 3, "PRAGMA synchronous=NORMAL", "COMMIT", f"PRAGMA synchronous={synchronous}",
                        "COMMIT"]  # fmt: skip
    assert [e.topic for e in box.pending(Lane.EVENT)] == ["t/2", "t/3"]
    box.close()


def test_a_full_disk_is_reported_not_swallowed(tmp_path: Path) -> None:
    """Test that SQLite's 'database or disk is full' surfaces as DiskFull and is counted as dropped."""
    box = Outbox(tmp_path / "o.db", max_bytes=64 * 1024)
    payload = b"x" * 2000
    with pytest.raises(DiskFull) as err:
        for i in range(1000):
            box.put(f"t/{i}", payload)
    assert "full" in str(err.value)
    stored = box.depth()
    assert 0 < stored < 1000
    assert box.dropped == 1 and box.full
    with pytest.raises(DiskFull):
        box.put_sequenced(lambda s: ("ev", payload))
    # Acknowledged rows free pages: storing works again.
    box.ack([e.id for e in box.pending(Lane.EVENT, limit=stored)])
    box.put("t/after", payload)
    assert box.depth() == 1
    box.close()


def test_sequenced_batch_stores_what_fits_and_reports_the_rest(tmp_path: Path) -> None:
    """Test that put_sequenced_many commits the events that fit and raises OutboxFull for the rest."""
    box = Outbox(tmp_path / "o.db", max_messages=6, max_readings=2)
    box.put_many([("r/1", b"r"), ("r/2", b"r")], lane=Lane.READING)
    items = [(lambda s: (f"ev/{s}", b"e"), {"k": str(i)}) for i in range(6)]
    with pytest.raises(OutboxFull):
        box.put_sequenced_many(items)
    assert box.last_seq() == 4 and box.depth(Lane.EVENT) == 4 and box.dropped == 2
    assert box.get_state("k") == "3"
    assert [e.topic for e in box.pending(Lane.EVENT)] == ["ev/1", "ev/2", "ev/3", "ev/4"]
    box.close()


def test_a_batch_larger_than_one_insert_keeps_order_seqs_journal_and_the_last_state_change(tmp_path: Path) -> None:
    """Test that a put of more events (and readings) than one multi-row INSERT holds stores them in order with
    gap-free seqs and their journal copies, and that a key changed by several events ends as the last change left
    it (set, deleted, set again: as when applied one by one)."""
    box = Outbox(tmp_path / "o.db", max_messages=1000)
    changes: list[dict[str, str | None]] = [{"k": str(i), "gone": "x" if i < 249 else None} for i in range(250)]
    items = [(lambda s: (f"ev/{s}", b"%d" % s), change) for change in changes]
    assert box.put_sequenced_many(items) == list(range(1, 251))
    ids = box.put_many([(f"r/{i}", b"r") for i in range(230)], lane=Lane.READING)
    assert ids == sorted(ids) and len(set(ids)) == 230
    assert [e.topic for e in box.pending(Lane.READING, limit=1000)] == [f"r/{i}" for i in range(230)]
    assert [e.id for e in box.pending(Lane.READING, limit=1000)] == ids
    assert [e.payload for e in box.pending(Lane.EVENT, limit=1000)] == [b"%d" % s for s in range(1, 251)]
    assert box.journal_bounds() == (1, 250, 250) and box.last_seq() == 250
    assert box.get_state("k") == "249" and box.get_state("gone") is None
    assert box.stored(Lane.EVENT) == 250 and box.stored(Lane.READING) == 230
    box.close()


def test_events_the_caller_keeps_are_refused_but_not_counted_as_dropped(tmp_path: Path) -> None:
    """Test that a refusal of events the caller keeps to offer again (``kept=True``: the agent's backlog) marks the
    outbox full without counting them in ``dropped`` (which would report events lost that are only waiting)."""
    box = Outbox(tmp_path / "o.db", max_messages=3, max_readings=1)
    items = [(lambda s: (f"ev/{s}", b"e"), {}) for _ in range(5)]
    for _ in range(3):  # offered again tick after tick
        with pytest.raises(OutboxFull):
            box.put_sequenced_many(items[box.last_seq() :], kept=True)
    assert box.last_seq() == 3 and box.full and box.dropped == 0
    box.close()


def test_one_outbox_one_owner(tmp_path: Path) -> None:
    """Test that a second process cannot open an outbox in use, and can once the owner closed it."""
    box = Outbox(tmp_path / "o.db")
    script = f"from edge.outbox import Outbox; Outbox({str(tmp_path / 'o.db')!r})"
    busy = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, timeout=60, cwd=Path(__file__).parents[2]
    )
    assert busy.returncode != 0 and b"OutboxInUse" in busy.stderr
    box.close()
    free = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, timeout=60, cwd=Path(__file__).parents[2]
    )
    assert free.returncode == 0, free.stderr


def test_counts_are_read_from_outside_while_the_agent_holds_the_outbox(tmp_path: Path) -> None:
    """Test that read_counts() gives the last seq and the messages waiting per lane of an outbox its agent holds
    open (no lock taken, nothing written), None where there is no outbox, and OutboxUnreadable for another file."""
    path = tmp_path / "edge-b2" / "outbox.db"
    assert Outbox.read_counts(path) is None
    box = Outbox(path)
    assert Outbox.read_counts(path) == OutboxCounts(last_seq=0, events_waiting=0, readings_waiting=0)
    for _ in range(3):
        box.put_sequenced(lambda seq: (f"e/{seq}", b"e"))
    box.put_many([("r/1", b"r"), ("r/2", b"r")], lane=Lane.READING)
    box.ack([e.id for e in box.pending(Lane.EVENT, limit=1)])
    assert Outbox.read_counts(path) == OutboxCounts(last_seq=3, events_waiting=2, readings_waiting=2)
    box.put_sequenced(lambda seq: (f"e/{seq}", b"e"))  # the agent still writes: nothing was locked
    box.close()
    assert Outbox.read_counts(path) == OutboxCounts(last_seq=4, events_waiting=3, readings_waiting=2)
    other = tmp_path / "not-an-outbox.db"
    other.write_text("plain text")
    with pytest.raises(OutboxUnreadable):
        Outbox.read_counts(other)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (root only; skipped with the reason where mount is refused), unmounted afterwards."""
    where = tmp_path / "disk"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "outbox-disk", str(where)], capture_output=True)
    if done.returncode != 0:
        needs_root_mount(f"needs a small tmpfs (root): {done.stderr.decode(errors='replace').strip()}")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True)


def fill(disk: Path) -> Path:
    """Fill ``disk`` with one file until ENOSPC; return the file (delete it to free the disk)."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as out:
        try:
            while out.write(b"\0" * 4096):
                pass
        except OSError:  # ENOSPC: full
            pass
    return filler


def test_acknowledgements_on_a_full_disk_wait_instead_of_stopping_the_publisher(small_disk: Path) -> None:
    """Test that acknowledging rows while the disk is full (a delete needs WAL room) neither raises (which stopped
    the edge's publisher for good) nor forgets them: the rows are deleted with the next ack once there is room."""
    box = Outbox(small_disk / "o.db")
    try:
        ids = [box.put(f"ev/{i}", b"e" * 100) for i in range(20)]
        filler = fill(small_disk)
        try:
            assert box.ack(ids[:10]) == 0, "nothing could be deleted on a full disk"
            assert box.depth() == 20 and box.full
        finally:
            filler.unlink()
        assert box.ack(ids[10:12]) == 12, "the waiting acknowledgements are deleted with the next one"
        assert box.depth() == 8 and [e.id for e in box.pending(Lane.EVENT)] == ids[12:]
    finally:
        box.close()
