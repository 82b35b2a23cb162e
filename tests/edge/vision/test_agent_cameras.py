"""Tests of the edge agent's cameras against a real broker: lift held locally, event + JPEG snapshot published."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from compound import wire
from compound.clock import ManualClock, ScaledClock
from compound.config import Compound
from compound.wire import EventKind, EventState, Location, MessageType, Severity
from edge.agent import AgentOptions, EdgeAgent
from edge.cameras import SNAPSHOT_MAX_BYTES
from edge.outbox import Lane
from edge.vision.lift import SimulatedLift
from edge.vision.pipeline import VisionDraft
from edge.vision.rules import VisionVerdict
from tests.edge.support import ROOT, Collector
from tests.servers import MosquittoServer
from tests.support import wait_for

LIFT_CAM = "b2-u1-lift1-cam"
LANE_CAM = "b2-fire-lane-cam"
JPEG_MAGIC = b"\xff\xd8\xff"


@pytest.mark.broker
def test_lift_camera_holds_the_lift_and_publishes_event_and_snapshot(
    compound: Compound, mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    """Test that an e-bike wheeled into the lift holds the doors, publishes the event and its JPEG, then releases."""
    prefix = f"{compound.prefix}/v1/{compound.id}/b2/"
    sub = Collector(mosquitto.port, prefix + "#", "cam-test-sub", filter_prefix=(prefix,))
    sub.start()
    start = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
    clock = ScaledClock(start, speed=5.0)
    options = AgentOptions(
        tick_s=1.0,
        reading_interval_s=0,
        heartbeat_interval_s=3600,
        until=start + timedelta(seconds=50),
        cameras=True,
        camera_sources=((LIFT_CAM, "sim:lift-ebike:1"), (LANE_CAM, "off")),
    )
    agent = EdgeAgent(
        compound, "b2", [], clock, host=mosquitto.host, port=mosquitto.port, data_dir=tmp_path, options=options
    )
    try:
        assert agent.cameras is not None and [w.device for w in agent.cameras.workers] == [LIFT_CAM]
        lift = agent.cameras.actuators[LIFT_CAM]
        assert isinstance(lift, SimulatedLift)
        asyncio.run(asyncio.wait_for(agent.run(), timeout=120))

        hold, release = lift.first("hold"), lift.first("release")
        assert hold is not None and lift.first("warn") is not None, lift.commands
        assert release is not None and release.t > hold.t and not lift.held
        # The e-bike enters at 12 s (3.5 s to the car floor) and leaves at 40 s (+5 s clear).
        assert 12.0 <= hold.t <= 20.0 and 40.0 <= release.t <= 50.0, lift.commands

        def published() -> bool:
            kinds = [(e.kind, e.state) for e in sub.events()]
            return (EventKind.EBIKE_IN_LIFT, EventState.CLEARED) in kinds and any(
                wire.parse_topic(t).type is MessageType.SNAPSHOT for t, _ in sub.messages
            )

        wait_for(published, 15, "the lift camera's events and snapshot")
        events = {e.id: e for e in sub.events() if e.device == LIFT_CAM}
        raised = [e for e in events.values() if e.state is EventState.RAISED]
        cleared = [e for e in events.values() if e.state is EventState.CLEARED]
        assert len(raised) == 1 and len(cleared) == 1, events
        ev = raised[0]
        assert ev.kind is EventKind.EBIKE_IN_LIFT and ev.seq == 1 and cleared[0].seq == 2
        assert cleared[0].raised_id == ev.id
        assert ev.evidence is not None and ev.evidence.snapshot == ev.id
        assert any(d.cls == "ebike" and d.score >= 0.5 for d in ev.evidence.detections)
        # occurred_at is the frame's time on the agent's clock, which the hold used too.
        offset = (ev.occurred_at - start).total_seconds()
        assert 0 <= offset - hold.t < 5.0, (offset, hold.t)

        snaps = [(t, p) for t, p in sub.messages if wire.parse_topic(t).type is MessageType.SNAPSHOT]
        # The annotated snapshot, then the clean frame (nothing drawn: a marked alarm becomes a training picture).
        assert [wire.parse_topic(t).device for t, _ in snaps] == [ev.id, f"{ev.id}-frame"]
        jpeg, clean = snaps[0][1], snaps[1][1]
        for data in (jpeg, clean):
            assert data.startswith(JPEG_MAGIC) and len(data) <= SNAPSHOT_MAX_BYTES
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        frame = cv2.imdecode(np.frombuffer(clean, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape[0] > 0 and image.shape[1] > 0
        assert frame is not None and frame.shape == image.shape
        # Boxes are drawn in pure red/amber/green; the clean frame differs from the annotated one where they are.
        assert float(np.abs(image.astype(int) - frame.astype(int)).max()) > 100
        assert agent.dropped == 0
    finally:
        sub.stop()


def test_bad_camera_source_is_refused_with_its_name(tmp_path: Path) -> None:
    """Test that ``compound edge --cameras`` with an unknown sim scene exits 2 naming the camera source."""
    proc = subprocess.run(
        [sys.executable, "-m", "compound.cli", "edge", "--edge", "b2", "--cameras",
         "--camera", f"{LIFT_CAM}=sim:no-such-scene", "--data-dir", str(tmp_path), "--broker", "127.0.0.1:1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "sim:no-such-scene" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.broker
def test_open_ebike_condition_survives_a_restart_and_clears_with_its_id(
    compound: Compound, mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    """Test that an agent restarted with an e-bike alarm open holds the lift again, then clears it by the same id."""
    prefix = f"{compound.prefix}/v1/{compound.id}/b2/"
    sub = Collector(mosquitto.port, prefix + "event/#", "cam-restart-sub", filter_prefix=(prefix,))
    sub.start()
    start = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)

    def run(source: str, at: datetime, seconds: float) -> SimulatedLift:
        options = AgentOptions(
            reading_interval_s=0,
            heartbeat_interval_s=3600,
            until=at + timedelta(seconds=seconds),
            cameras=True,
            camera_sources=((LIFT_CAM, source), (LANE_CAM, "off")),
        )
        agent = EdgeAgent(
            compound, "b2", [], ScaledClock(at, speed=5.0), host=mosquitto.host, port=mosquitto.port,
            data_dir=tmp_path, options=options,
        )  # fmt: skip
        assert agent.cameras is not None
        lift = agent.cameras.actuators[LIFT_CAM]
        assert isinstance(lift, SimulatedLift)
        asyncio.run(asyncio.wait_for(agent.run(), timeout=120))
        return lift

    try:
        first = run("sim:lift-ebike:1", start, 25)  # stops with the e-bike in the car
        assert first.held
        wait_for(lambda: len(sub.events()) >= 1, 15, "the raise")
        raised = sub.events()[0]
        assert raised.state is EventState.RAISED and raised.seq == 1

        second = run("sim:lift-people:1", start + timedelta(seconds=30), 15)  # no e-bike any more
        assert [c.name for c in second.commands][:2] == ["hold", "release"], second.commands
        assert not second.held
        wait_for(lambda: len(sub.events()) >= 2, 15, "the clear")
        cleared = sub.events()[1]
        assert cleared.state is EventState.CLEARED and cleared.raised_id == raised.id and cleared.seq == 2
    finally:
        sub.stop()


def _draft(at: datetime, jpeg: bytes) -> VisionDraft:
    kind, state = EventKind.EBIKE_IN_LIFT, EventState.RAISED
    verdict = VisionVerdict(kind, state, Severity.WARNING, 1.0, "e-bike", device=LIFT_CAM)
    location = Location(building="b2", unit="u1", place="lift-1")
    return VisionDraft(verdict, wire.new_event_id(), None, "sunrise-garden", "b2", LIFT_CAM, location, at, jpeg)


def test_full_outbox_keeps_snapshots_and_events_waiting(compound: Compound, tmp_path: Path) -> None:
    """Test that a full outbox keeps camera events in the backlog and snapshots in a bounded list, then stores both."""
    start = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
    clock = ManualClock(start)
    options = AgentOptions(
        reading_interval_s=0, max_messages=2, snapshot_backlog=1, cameras=True,
        camera_sources=((LIFT_CAM, "sim:lift-ebike"), (LANE_CAM, "off")),
    )  # fmt: skip
    agent = EdgeAgent(compound, "b2", [], clock, host="127.0.0.1", port=1, data_dir=tmp_path, options=options)
    try:
        assert agent.cameras is not None
        ok, buf = cv2.imencode(".jpg", np.zeros((24, 32, 3), np.uint8))
        assert ok
        jpeg = bytes(buf)
        old = [agent.outbox.put("x/1", b"e"), agent.outbox.put("x/2", b"e")]  # the outbox is full
        unpictured, kept = _draft(start, jpeg), _draft(start, jpeg)
        agent.cameras.drafts.put(unpictured)
        agent.cameras.drafts.put(kept)
        agent.step(clock.now())
        assert [d.id for d in agent.backlog] == [unpictured.id, kept.id]
        assert [t for t, _ in agent.snapshots] == [kept.snapshot_topic]  # backlog of one: the older one dropped
        assert agent.dropped_snapshots == 1 and agent.dropped >= 1

        agent.outbox.ack(old)  # room for two: events first (seq 1, 2), the snapshot waits
        agent.step(clock.advance(1))
        rows = agent.outbox.pending(Lane.EVENT)
        assert [r.topic for r in rows] == [kept.event_topic, kept.event_topic] and len(agent.snapshots) == 1
        events = [wire.parse(MessageType.EVENT, r.payload) for r in rows]
        assert [(e.id, e.seq) for e in events] == [(unpictured.id, 1), (kept.id, 2)]
        assert events[1].evidence is not None and events[1].evidence.snapshot == kept.id

        agent.outbox.ack([r.id for r in rows])
        agent.step(clock.advance(1))
        rows = agent.outbox.pending(Lane.EVENT)
        assert [(r.topic, r.payload) for r in rows] == [(kept.snapshot_topic, jpeg)]
        assert not agent.backlog and not agent.snapshots
    finally:
        agent.outbox.close()
