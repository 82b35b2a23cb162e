"""The outbox's sent-journal and the edge's resend handler: bounds, requeue, validation, rate limiting."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from compound import wire
from edge.outbox import Lane, Outbox
from edge.resend import ResendHandler

COMPOUND, EDGE = "sunrise-garden", "b2"
TOPIC = f"compound/v1/{COMPOUND}/{EDGE}/event/b2-u1-1502-smoke"
CMD = f"compound/v1/{COMPOUND}/{EDGE}/cmd/resend"


class FakeTime:
    """A settable clock for bounds and rate limits."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def payload(seq: int) -> bytes:
    return f'{{"seq":{seq}}}'.encode()


def store(outbox: Outbox, count: int) -> list[int]:
    """Store ``count`` sequenced events one transaction each; return their seqs."""
    return [outbox.put_sequenced(lambda seq: (TOPIC, payload(seq))) for _ in range(count)]


def ack_all(outbox: Outbox) -> None:
    outbox.ack(e.id for e in outbox.pending(Lane.EVENT, limit=100_000))


def pending_seqs(outbox: Outbox) -> list[int]:
    import json

    return [json.loads(e.payload)["seq"] for e in outbox.pending(Lane.EVENT, limit=100_000)]


@pytest.fixture
def wall() -> FakeTime:
    return FakeTime()


@pytest.fixture
def outbox(tmp_path: Path, wall: FakeTime) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.db", max_messages=1000, synchronous="NORMAL", wall=wall)
    yield box
    box.close()


def request(from_seq: int, to_seq: int | None = None, **changes: object) -> bytes:
    data = {
        "schema": 1, "type": "resend", "id": "req-00000001", "compound": COMPOUND, "edge": EDGE,
        "from_seq": from_seq, "to_seq": to_seq, "requested_by": "hub:1", "at": "2026-11-24T00:00:00Z",
    }  # fmt: skip
    data.update(changes)
    import json

    return json.dumps(data).encode()


def test_acknowledged_events_leave_the_outbox_but_stay_in_the_journal(outbox: Outbox) -> None:
    """Test that acked events no longer count in the depth but are kept, byte for byte, in the journal."""
    store(outbox, 5)
    assert outbox.depth(Lane.EVENT) == 5
    ack_all(outbox)
    assert outbox.depth() == 0
    assert outbox.journal_bounds() == (1, 5, 5)
    assert outbox.requeue(2, 3) == [2, 3]
    assert [e.payload for e in outbox.pending(Lane.EVENT)] == [payload(2), payload(3)]
    assert outbox.depth(Lane.EVENT) == 2


def test_journal_keeps_at_most_max_events(tmp_path: Path) -> None:
    """Test that the journal drops its oldest events beyond ``journal_max_events``."""
    box = Outbox(tmp_path / "o.db", synchronous="NORMAL", journal_max_events=5)
    try:
        store(box, 8)
        assert box.journal_bounds() == (4, 8, 5)
        ack_all(box)
        assert box.requeue(1, 8) == [4, 5, 6, 7, 8]
    finally:
        box.close()


def test_journal_forgets_events_older_than_max_age(tmp_path: Path, wall: FakeTime) -> None:
    """Test that the journal drops events older than ``journal_max_age_s`` on the next store."""
    box = Outbox(tmp_path / "o.db", synchronous="NORMAL", journal_max_age_s=3600, wall=wall)
    try:
        store(box, 3)
        wall.now += 3000
        store(box, 2)
        assert box.journal_bounds() == (1, 5, 5)
        wall.now += 1000  # the first three are now 4000 s old
        store(box, 1)
        assert box.journal_bounds() == (4, 6, 3)
    finally:
        box.close()


def test_zero_journal_keeps_nothing(tmp_path: Path) -> None:
    """Test that ``journal_max_events=0`` turns the journal off, and negative bounds are refused."""
    box = Outbox(tmp_path / "o.db", synchronous="NORMAL", journal_max_events=0)
    try:
        store(box, 3)
        assert box.journal_bounds() == (0, 0, 0)
    finally:
        box.close()
    with pytest.raises(ValueError, match="journal bounds"):
        Outbox(tmp_path / "p.db", journal_max_age_s=-1)


def test_requeue_skips_events_still_waiting(outbox: Outbox) -> None:
    """Test that requeue leaves out events still in the outbox (no second copy) and respects its limit."""
    store(outbox, 6)
    outbox.ack([e.id for e in outbox.pending(Lane.EVENT, limit=3)])  # 1..3 acked, 4..6 waiting
    assert outbox.requeue(1, 6) == [1, 2, 3]
    assert sorted(pending_seqs(outbox)) == [1, 2, 3, 4, 5, 6]
    assert outbox.requeue(1, 6) == []
    ack_all(outbox)
    assert outbox.requeue(1, 6, limit=2) == [1, 2]
    assert outbox.requeue(7, 9) == []
    assert outbox.requeue(5, 4) == []


def test_requeue_leaves_room_for_new_events(tmp_path: Path) -> None:
    """Test that a resend takes at most half the room left for events."""
    box = Outbox(tmp_path / "o.db", max_messages=20, synchronous="NORMAL")
    try:
        store(box, 10)
        ack_all(box)
        store(box, 4)  # 16 slots free
        assert len(box.requeue(1, 10)) == 8
        assert box.depth(Lane.EVENT) == 12
    finally:
        box.close()


def test_outbox_written_before_the_journal_opens(tmp_path: Path) -> None:
    """Test that an outbox file without the ``seq`` column (older version) is migrated and still replays."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, lane INTEGER NOT NULL, topic TEXT NOT NULL,"
        " payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL);"
        "CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO outbox (lane, topic, payload, qos, retain) VALUES (0, 't', x'01', 1, 0);"
        "INSERT INTO state VALUES ('seq', '1');"
    )
    conn.commit()
    conn.close()
    box = Outbox(path, synchronous="NORMAL")
    try:
        assert box.depth() == 1 and box.last_seq() == 1
        assert box.put_sequenced(lambda seq: (TOPIC, payload(seq))) == 2
        ack_all(box)
        assert box.requeue(1, 2) == [2]
    finally:
        box.close()


@pytest.fixture
def handler(outbox: Outbox) -> ResendHandler:
    return ResendHandler(outbox, COMPOUND, EDGE, clock=FakeTime(50.0))


def test_resend_request_requeues_the_range(outbox: Outbox, handler: ResendHandler) -> None:
    """Test that a valid request requeues the journaled range, and an open-ended one stops at the last seq."""
    store(outbox, 10)
    ack_all(outbox)
    assert handler.topic == CMD
    assert handler.handle(CMD, request(3, 5)) == 3
    assert pending_seqs(outbox) == [3, 4, 5]
    assert handler.handle(CMD, request(8)) == 3
    assert pending_seqs(outbox) == [3, 4, 5, 8, 9, 10]
    assert handler.handle(CMD, request(11)) == 0
    assert (handler.stats.requests, handler.stats.rejected, handler.stats.requeued) == (3, 0, 6)


@pytest.mark.parametrize(
    ("topic", "raw", "reason"),
    [
        (CMD, b"\xff\xfe garbage", "not_utf8"),
        (CMD, b"{not json", "not_json"),
        (CMD, b"[1, 2]", "not_object"),
        (CMD, request(5, 2), "invalid"),
        (CMD, request(1, wire.MAX_RESEND_SEQS + 1), "invalid"),
        (CMD, request(-1, 3), "invalid"),
        (CMD, request(1, 3, schema=2), "unknown_schema"),
        (CMD, request(1, 3, type="event"), "wrong_type"),
        (CMD, request(1, 3, edge="b3"), "topic_payload_mismatch"),
        (CMD, request(1, 3, compound="elsewhere"), "topic_payload_mismatch"),
        (CMD, request(1, 3, extra=1), "invalid"),
        (CMD.replace("/b2/", "/b3/"), request(1, 3), "wrong_topic"),
        (CMD, b"x" * (wire.MAX_PAYLOAD_BYTES + 1), "oversized"),
    ],
)
def test_bad_resend_requests_are_ignored_with_a_reason(
    outbox: Outbox, handler: ResendHandler, topic: str, raw: bytes, reason: str
) -> None:
    """Test that a malformed, out-of-bounds or misaddressed request requeues nothing and is counted by reason."""
    store(outbox, 5)
    ack_all(outbox)
    assert handler.handle(topic, raw) == 0
    assert outbox.depth() == 0
    assert handler.stats.rejections == {reason: 1}


def test_resends_are_rate_limited_and_overlapping_requests_merge(outbox: Outbox) -> None:
    """Test that a range resent within the interval is not resent again, overlaps pass only their new part,
    and the same range goes out again once the interval has passed."""
    clock = FakeTime(0.0)
    handler = ResendHandler(outbox, COMPOUND, EDGE, min_interval_s=10, clock=clock)
    store(outbox, 10)
    ack_all(outbox)
    assert handler.handle(CMD, request(1, 5)) == 5
    ack_all(outbox)
    assert handler.handle(CMD, request(1, 5)) == 0
    assert handler.handle(CMD, request(3, 8)) == 3
    assert pending_seqs(outbox) == [6, 7, 8]
    ack_all(outbox)
    clock.now = 11.0
    assert handler.handle(CMD, request(1, 5)) == 5


def test_a_range_not_resent_can_be_asked_again(outbox: Outbox) -> None:
    """Test that seqs not resent (still waiting in the outbox) are not blocked by the rate limit."""
    handler = ResendHandler(outbox, COMPOUND, EDGE, min_interval_s=10, clock=FakeTime(0.0))
    store(outbox, 4)  # all still waiting: nothing to resend
    assert handler.handle(CMD, request(1, 4)) == 0
    ack_all(outbox)
    assert handler.handle(CMD, request(1, 4)) == 4
