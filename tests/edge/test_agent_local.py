"""Tests of the agent's tick without a broker: events wait in a bounded backlog when the outbox is full."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from compound import wire
from compound.clock import ManualClock
from compound.config import Compound
from compound.drivers import Quantity, Sample
from compound.wire import EventKind, EventState, MessageType
from edge.agent import AgentOptions, EdgeAgent
from edge.outbox import Lane
from tests.edge.conftest import NIGHT


class ScriptedDriver:
    """A driver that replays a fixed list of samples, each once its time has come."""

    name = "scripted"

    def __init__(self, samples: Sequence[Sample]) -> None:
        self.samples = sorted(samples, key=lambda s: s.at)

    def devices(self) -> Sequence[str]:
        return sorted({s.device for s in self.samples})

    def poll(self, now: datetime) -> Sequence[Sample]:
        due = [s for s in self.samples if s.at <= now]
        self.samples = [s for s in self.samples if s.at > now]
        return due

    def close(self) -> None:
        self.samples = []


def series(device: str, value: float, start: datetime, seconds: int) -> list[Sample]:
    """One sample a second for ``seconds`` from ``start``."""
    return [Sample(device, Quantity.SMOKE, value, start + timedelta(seconds=t)) for t in range(seconds)]


def test_full_outbox_keeps_events_waiting_then_stores_them_in_order(compound: Compound, tmp_path: Path) -> None:
    """Test that events refused by a full outbox wait in memory, are reported, and get contiguous seqs later."""
    clock = ManualClock(NIGHT)
    flats = ["b2-u1-1501-smoke", "b2-u1-1502-smoke", "b2-u1-1503-smoke", "b2-u1-1504-smoke"]
    driver = ScriptedDriver([s for flat in flats for s in series(flat, 0.5, NIGHT, 60)])
    agent = EdgeAgent(
        compound, "b2", [driver], clock, host="127.0.0.1", port=1, data_dir=tmp_path,
        options=AgentOptions(max_messages=4, max_readings=2, reading_interval_s=0),
    )  # fmt: skip
    try:
        old = agent.outbox.put_many([("x/1", b"r"), ("x/2", b"r")], lane=Lane.READING)
        old.append(agent.outbox.put("x/3", b"e"))
        for _ in range(30):
            agent.step(clock.now())
            clock.advance(1)
        assert agent.outbox.depth(Lane.EVENT) == 2  # only one slot was free for events
        # Waiting, not dropped: the heartbeat reports them as outbox depth with outbox_full, dropped stays 0.
        assert len(agent.backlog) == 3 and agent.outbox.full and agent.dropped == 0
        # The broker acknowledges the old rows: the backlog drains on the next tick, in order.
        agent.outbox.ack(old)
        agent.step(clock.now())
        assert not agent.backlog and not agent.outbox.full
        events = [wire.parse(MessageType.EVENT, e.payload) for e in agent.outbox.pending(Lane.EVENT)]
        assert [e.seq for e in events] == [1, 2, 3, 4]
        assert {e.device for e in events} == set(flats)
        assert all(e.kind is EventKind.SMOKE and e.state is EventState.RAISED for e in events)
    finally:
        agent.outbox.close()


def test_restart_restores_open_conditions_and_skips_judged_samples(compound: Compound, tmp_path: Path) -> None:
    """Test that a new agent on the same data dir clears a raise of the previous run with its id, not re-raising."""
    clock = ManualClock(NIGHT)
    device = "b2-u1-1502-smoke"
    fire = series(device, 0.5, NIGHT, 20)
    options = AgentOptions(reading_interval_s=0)
    first = EdgeAgent(compound, "b2", [ScriptedDriver(fire)], clock, host="127.0.0.1", port=1, data_dir=tmp_path,
                      options=options)  # fmt: skip
    for _ in range(20):
        first.step(clock.now())
        clock.advance(1)
    raised = [wire.parse(MessageType.EVENT, e.payload) for e in first.outbox.pending(Lane.EVENT)]
    assert [(e.kind, e.state) for e in raised] == [(EventKind.SMOKE, EventState.RAISED)]
    first.outbox.close()  # as if killed: nothing else is saved
    start = clock.now()
    calm = series(device, 0.01, start, 60)
    second = EdgeAgent(compound, "b2", [ScriptedDriver(fire + calm)], clock, host="127.0.0.1", port=1,
                       data_dir=tmp_path, options=options)  # fmt: skip
    for _ in range(60):
        second.step(clock.now())
        clock.advance(1)
    events = [wire.parse(MessageType.EVENT, e.payload) for e in second.outbox.pending(Lane.EVENT)]
    smoke = [e for e in events if e.kind is EventKind.SMOKE]
    assert [e.state for e in smoke] == [EventState.RAISED, EventState.CLEARED]
    assert smoke[1].raised_id == smoke[0].id and smoke[1].seq == smoke[0].seq + 1
    second.outbox.close()
