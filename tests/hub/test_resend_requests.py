"""The hub's resend request: which ranges it asks for, of whom, and how often."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from compound import wire
from compound.config import Compound
from hub.db import Database
from hub.ingest import Inbound, Ingestor, MessagePipeline
from hub.resend import MAX_REQUESTS_PER_CALL, ResendRequester
from tests.hub.helpers import event_topic, make_event

SMOKE = "b2-u1-1502-smoke"


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Outgoing:
    """Collects what a requester publishes; ``up`` False simulates a hub that is not subscribed."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, wire.ResendRequest]] = []
        self.up = True

    def __call__(self, topic: str, payload: bytes) -> bool:
        if not self.up:
            return False
        self.sent.append((topic, wire.parse_command(wire.RESEND_COMMAND, payload)))
        return True

    def ranges(self) -> list[tuple[str, int, int | None]]:
        return [(r.edge, r.from_seq, r.to_seq) for _, r in self.sent]


@pytest.fixture
def out() -> Outgoing:
    return Outgoing()


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


@pytest.fixture
def requester(compound: Compound, out: Outgoing, clock: FakeTime) -> ResendRequester:
    return ResendRequester(compound, out, requested_by="hub:t", min_interval_s=10, clock=clock)


def test_request_goes_to_the_edge_command_topic(requester: ResendRequester, out: Outgoing, compound: Compound) -> None:
    """Test that a request is a valid ResendRequest on <prefix>/v1/<compound>/<edge>/cmd/resend."""
    assert requester.request("b2", 4, 9) == 1
    topic, req = out.sent[0]
    parsed = wire.parse_topic(topic)
    assert (parsed.compound, parsed.edge, parsed.type, parsed.device) == (compound.id, "b2", "cmd", "resend")
    assert (req.edge, req.from_seq, req.to_seq, req.requested_by) == ("b2", 4, 9, "hub:t")


def test_unknown_edge_and_empty_range_are_refused(requester: ResendRequester, out: Outgoing) -> None:
    """Test that no request goes to an edge missing from the config, nor for an empty range."""
    assert requester.request("b99", 1, 5) == 0
    assert requester.request("b2", 5, 4) == 0
    assert out.sent == [] and requester.refused == 2


def test_same_range_is_not_asked_twice_within_the_interval(
    requester: ResendRequester, out: Outgoing, clock: FakeTime
) -> None:
    """Test the per-edge rate limit: a repeat is dropped, an overlap asks only for its new part, another edge is
    independent, and after the interval the same range is asked again."""
    assert requester.request("b2", 1, 10) == 1
    assert requester.request("b2", 1, 10) == 0
    assert requester.request("b2", 5, 15) == 1
    assert requester.request("b3", 1, 10) == 1
    clock.now = 10.5
    assert requester.request("b2", 1, 10) == 1
    assert out.ranges() == [("b2", 1, 10), ("b2", 11, 15), ("b3", 1, 10), ("b2", 1, 10)]


def test_open_ended_and_wide_ranges(requester: ResendRequester, out: Outgoing) -> None:
    """Test that an open-ended request stays open-ended, and a wide range is split into bounded requests."""
    assert requester.request("b2", 7, None) == 1
    assert out.ranges() == [("b2", 7, None)]
    wide = 3 * wire.MAX_RESEND_SEQS
    assert requester.request("b3", 1, wide) == 3
    assert [(r.from_seq, r.to_seq) for _, r in out.sent[1:]] == [
        (1, wire.MAX_RESEND_SEQS),
        (wire.MAX_RESEND_SEQS + 1, 2 * wire.MAX_RESEND_SEQS),
        (2 * wire.MAX_RESEND_SEQS + 1, wide),
    ]
    huge = (MAX_REQUESTS_PER_CALL + 5) * wire.MAX_RESEND_SEQS
    assert requester.request("b4", 1, huge) == MAX_REQUESTS_PER_CALL
    assert requester.request("b4", 1, huge) == 5  # the rest was not marked as asked


def test_unsent_request_is_not_rate_limited(requester: ResendRequester, out: Outgoing) -> None:
    """Test that a request that could not be published (hub not subscribed) is sent on the next ask."""
    out.up = False
    assert requester.request("b2", 1, 5) == 0
    out.up = True
    assert requester.request("b2", 1, 5) == 1


def _feed(pipeline: MessagePipeline, compound: Compound, *msgs: wire.Event | wire.Heartbeat) -> None:
    now = datetime.now(UTC)
    items = []
    for msg in msgs:
        if isinstance(msg, wire.Event):
            items.append(Inbound(event_topic(compound, msg), wire.dump(msg), now))
        else:
            items.append(Inbound(wire.topic(compound.id, msg.edge, "heartbeat"), wire.dump(msg), now))
    pipeline.process(items)


def test_pipeline_asks_for_gaps_and_heartbeat_tails(hub_db: Database, compound: Compound) -> None:
    """Test that a seq gap and a heartbeat past the last stored seq each lead to a resend request after commit."""
    asked: list[tuple[str, int, int | None]] = []
    pipeline = MessagePipeline(hub_db, compound)
    pipeline.on_resend = lambda edge, lo, hi: asked.append((edge, lo, hi))
    _feed(pipeline, compound, make_event(compound, SMOKE, seq=1), make_event(compound, SMOKE, seq=5))
    assert asked == [("b2", 2, 4)]
    beat = wire.Heartbeat(compound=compound.id, edge="b2", uptime_s=3, seq=9, outbox_depth=2)
    _feed(pipeline, compound, beat)
    assert asked[1:] == [("b2", 6, 9)]
    _feed(pipeline, compound, make_event(compound, SMOKE, seq=3))  # a late arrival asks for nothing
    assert len(asked) == 2


def test_pipeline_survives_a_failing_resend_callback(hub_db: Database, compound: Compound) -> None:
    """Test that an exception while asking for a resend does not stop storing."""
    pipeline = MessagePipeline(hub_db, compound)

    def broken(edge: str, lo: int, hi: int | None) -> None:
        raise RuntimeError("broker gone")

    pipeline.on_resend = broken
    _feed(pipeline, compound, make_event(compound, SMOKE, seq=1), make_event(compound, SMOKE, seq=3))
    assert pipeline.processed == 2


def test_sweep_asks_for_open_gaps_and_everything_after_the_last_seq(hub_db: Database, compound: Compound) -> None:
    """Test that the subscribe-time sweep asks every configured edge from its last stored seq on (from 1 if
    it never sent anything), plus open gaps and a missing start, and that the periodic sweep asks only for gaps."""
    ingestor = Ingestor(hub_db, compound)
    out = Outgoing()
    ingestor.resends.publish = out
    _feed(ingestor.pipeline, compound, make_event(compound, SMOKE, seq=3), make_event(compound, SMOKE, seq=6))
    out.sent.clear()  # the gap request went out while "processing"; the sweep asks again after the interval
    ingestor.resends = ResendRequester(compound, out)
    ingestor.sweep(open_ended=True)
    ranges = out.ranges()
    assert ("b2", 4, 5) in ranges and ("b2", 1, 2) in ranges and ("b2", 7, None) in ranges
    assert {edge for edge, lo, hi in ranges if hi is None} == set(compound.edges())
    assert all(lo == 1 for edge, lo, hi in ranges if edge != "b2")
    out.sent.clear()
    ingestor.resends = ResendRequester(compound, out)
    ingestor.sweep(open_ended=False)
    assert out.ranges() == [("b2", 4, 5)]
