"""End-to-end tests of the edge agent against real brokers: the kitchen fire, a broker outage, a SIGKILL.

The agent runs as ``compound edge`` in a subprocess on a fast simulated clock; a plain paho subscriber
(persistent session, QoS 1) collects what reaches the broker. "None lost" is checked on the seq range:
the agent assigns seq 1, 2, 3... in the same transaction that stores each event, so the subscriber
must hold every seq from 1 to the outbox's last seq, each with a single id.

amqtt keeps no sessions across its own restart: a subscriber that re-subscribes after the edge has
already flushed its outbox misses those messages. On amqtt the tests therefore pause the agent
(SIGSTOP) while the broker restarts and resume it (SIGCONT) once the subscriber's SUBACK is back.
Mosquitto (persistence on) keeps the subscriber's session and queues for it: no gate there.
"""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from compound import wire
from compound.config import Compound
from compound.wire import EdgeState, EventKind, EventState, MessageType
from tests.edge.support import Collector, EdgeProcess, last_seq, outbox_rows
from tests.servers import BrokerServer
from tests.support import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.slow]

SMOKE = "b2-u1-1502-smoke"
BASE = "compound/v1/sunrise-garden/b2"
EVENTS = f"{BASE}/event/+"
SCENARIO_START = "2026-11-24T02:00:00+08:00"


def edge_args(broker: BrokerServer, data_dir: Path, speed: float, duration: float, real_start: float) -> list[str]:
    return [
        "--edge", "b2", "--scenario", "kitchen-fire-night", "--speed", str(speed), "--duration", str(duration),
        "--sim-start", SCENARIO_START, "--real-start", str(real_start), "--broker", broker.url,
        "--data-dir", str(data_dir),
    ]  # fmt: skip


def assert_none_lost(collector: Collector, db: Path, timeout: float = 30.0) -> list[wire.Event]:
    """Every seq the agent assigned reaches the subscriber, and each seq always carries the same id."""
    last = last_seq(db)
    assert last > 0, "the agent produced no events"
    wait_for(lambda: collector.seqs() >= set(range(1, last + 1)), timeout, f"seqs 1..{last} at the subscriber")
    events = collector.events()
    ids: dict[int, str] = {}
    for event in events:
        assert ids.setdefault(event.seq, event.id) == event.id, f"seq {event.seq} arrived with two ids"
    assert set(ids) == set(range(1, last + 1))
    return events


def test_kitchen_fire_raises_one_smoke_event_and_clears_it(
    broker: BrokerServer, tmp_path: Path, compound: Compound
) -> None:
    """Test that kitchen-fire-night raises exactly one smoke event for b2/u1/1502 and clears it with its id."""
    collector = Collector(broker.port, EVENTS, f"it-fire-{broker.kind}")
    collector.start()
    side = Collector(broker.port, f"{BASE}/#", f"it-fire-side-{broker.kind}", filter_prefix=(
        f"{BASE}/status", f"{BASE}/heartbeat", f"{BASE}/reading/{SMOKE}",
    ))  # fmt: skip
    side.start()
    edge = EdgeProcess(edge_args(broker, tmp_path / "data", 60, 1200, time.time()), tmp_path / "edge.log")
    edge.start()
    try:
        assert edge.wait(timeout=120) == 0, edge.log()[-3000:]
        events = assert_none_lost(collector, tmp_path / "data" / "edge-b2" / "outbox.db")
        wait_for(lambda: any(b'"offline"' in p for t, p in side.messages if t.endswith("/status")), 15, "offline")
    finally:
        edge.kill()
        collector.stop()
        side.stop()
    states = [wire.parse(MessageType.STATUS, p).state for t, p in side.messages if t.endswith("/status")]
    assert states[0] is EdgeState.ONLINE and states[-1] is EdgeState.OFFLINE
    beats = [wire.parse(MessageType.HEARTBEAT, p) for t, p in side.messages if t.endswith("/heartbeat")]
    assert beats and all(b.devices_total == len(compound.devices_of_edge("b2")) for b in beats)
    assert max(b.seq for b in beats) >= 1
    readings = [wire.parse(MessageType.READING, p) for t, p in side.messages if "/reading/" in t]
    assert readings and {r.unit for r in readings} == {"dB/m"}
    assert max(r.value for r in readings) >= 0.15, "readings follow the fire"
    smoke = {e.id: e for e in events if e.device == SMOKE and e.kind is EventKind.SMOKE}
    raised = [e for e in smoke.values() if e.state is EventState.RAISED]
    cleared = [e for e in smoke.values() if e.state is EventState.CLEARED]
    assert len(raised) == 1, [e.state for e in smoke.values()]
    assert len(cleared) == 1 and cleared[0].raised_id == raised[0].id
    assert raised[0].value is not None and raised[0].value >= 0.15 and raised[0].location.flat == "1502"
    assert cleared[0].seq > raised[0].seq and cleared[0].occurred_at > raised[0].occurred_at
    others = [e for e in events if e.kind is EventKind.SMOKE and e.device != SMOKE]
    assert others == []


def test_broker_outage_loses_no_event(broker: BrokerServer, tmp_path: Path) -> None:
    """Test that a 30 s broker outage during the scenario loses no event: every seq arrives after the restart."""
    collector = Collector(broker.port, EVENTS, f"it-outage-{broker.kind}")
    collector.start()
    db = tmp_path / "data" / "edge-b2" / "outbox.db"
    edge = EdgeProcess(edge_args(broker, tmp_path / "data", 20, 1200, time.time()), tmp_path / "edge.log")
    edge.start()
    try:
        wait_for(lambda: "connected to" in edge.log(), 30, "the agent's first connection")
        broker.stop()
        down_at = datetime.now(UTC)
        time.sleep(30)
        stored_while_down = {wire.parse(wire.MessageType.EVENT, p).id for lane, _, p in outbox_rows(db) if lane == 0}
        gate = broker.kind == "amqtt"
        if gate:
            edge.signal(signal.SIGSTOP)
        broker.start()
        up_at = datetime.now(UTC)
        wait_for(collector.subscribed.is_set, 15, "the subscriber to re-subscribe")
        if gate:
            edge.signal(signal.SIGCONT)
        assert edge.wait(timeout=120) == 0, edge.log()[-3000:]
        events = assert_none_lost(collector, db)
    finally:
        edge.kill()
        collector.stop()
    assert stored_while_down, "no event was produced during the outage: the test proved nothing"
    assert stored_while_down <= {e.id for e in events}
    assert any(down_at <= e.sent_at <= up_at for e in events)
    assert outbox_rows(db) == [] or all(lane == 1 for lane, _, _ in outbox_rows(db))


def test_sigkill_while_broker_down_replays_the_outbox(broker: BrokerServer, tmp_path: Path) -> None:
    """Test that events stored by an agent killed with SIGKILL are published by its next run."""
    collector = Collector(broker.port, EVENTS, f"it-kill-{broker.kind}")
    collector.start()
    db = tmp_path / "data" / "edge-b2" / "outbox.db"
    real_start = time.time()
    first = EdgeProcess(edge_args(broker, tmp_path / "data", 30, 900, real_start), tmp_path / "edge1.log")
    first.start()
    try:
        wait_for(lambda: "connected to" in first.log(), 30, "the agent's first connection")
        broker.stop()
        wait_for(lambda: any(lane == 0 for lane, _, _ in outbox_rows(db)), 60, "events waiting in the outbox")
        first.signal(signal.SIGKILL)
        first.wait(timeout=10)
        waiting = {wire.parse(wire.MessageType.EVENT, p).id for lane, _, p in outbox_rows(db) if lane == 0}
        assert waiting
        broker.start()
        wait_for(collector.subscribed.is_set, 15, "the subscriber to re-subscribe")
        second = EdgeProcess(edge_args(broker, tmp_path / "data", 30, 900, real_start), tmp_path / "edge2.log")
        second.start()
        try:
            assert second.wait(timeout=120) == 0, second.log()[-3000:]
            assert "to replay" in second.log() or "waiting)" in second.log()
            events = assert_none_lost(collector, db)
        finally:
            second.kill()
    finally:
        first.kill()
        collector.stop()
    assert waiting <= {e.id for e in events}
