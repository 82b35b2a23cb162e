"""Record and replay across packages: a recorded fire replayed into a fresh hub, a recorded clip into an edge.

The issue's "done when": a recorded run of ``kitchen-fire-night``, replayed into a fresh hub at x1 and as
fast as possible, gives the same alarms (kind, place, state sequence) as the original run; a recorded camera
clip replayed into an edge gives the same detections and the same lift hold.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import simulators
from compound import recording
from compound.clock import ScaledClock
from compound.config import Compound
from compound.wire import EventKind, EventState
from edge.agent import AgentOptions, EdgeAgent
from edge.vision.lift import SimulatedLift
from hub.db import Database, EventRecord, default_url
from hub.report import StoreMark, run_summary
from tests.edge.support import ROOT, Collector
from tests.hub.test_hub_kill import start_hub
from tests.servers import MosquittoServer
from tests.support import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.slow]

LIFT_CAM = "b2-u1-lift1-cam"
LANE_CAM = "b2-fire-lane-cam"


def compound_cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "compound.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def alarm_story(db: Database) -> dict[str, Any]:
    """What a hub made of a run: each alarm (kind, place, severity, state, times, assignees) and the event states
    in seq order, as the hub stored them."""
    summary = run_summary(db, StoreMark())
    with db.session() as session:
        events = [tuple(row) for row in session.execute(
            select(EventRecord.edge, EventRecord.seq, EventRecord.device, EventRecord.kind, EventRecord.state)
            .order_by(EventRecord.edge, EventRecord.seq)
        )]  # fmt: skip
    alarms = [(a.kind, a.device, a.location.model_dump(), a.severity, a.state.value, a.raised_at, a.cleared_at,
               sorted(a.assignees)) for a in summary.alarms]  # fmt: skip
    return {"alarms": alarms, "events": events, "dead_letters": summary.dead_letters}


def test_a_recorded_fire_replayed_into_a_fresh_hub_raises_the_same_alarms(tmp_path: Path) -> None:
    """Test that kitchen-fire-night, recorded off the broker, replayed at x1 and as fast as possible into a fresh hub
    on a fresh broker, gives the hub the very alarms and event states of the original run."""
    original_broker = MosquittoServer(tmp_path / "broker-original")
    original_broker.start()
    out = tmp_path / "fire.mcap"
    log = tmp_path / "record.log"
    try:
        with open(log, "wb") as err:
            recorder = subprocess.Popen(
                [sys.executable, "-m", "compound.cli", "record", "--broker", original_broker.url,
                 "--compound", "sunrise-garden", str(out)],
                cwd=ROOT, stderr=err, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
        try:
            wait_for(lambda: "subscribed to" in log.read_text(), 30, "the recorder's SUBACK")
            up = compound_cli("up", "--scenario", "kitchen-fire-night", "--duration", "1300", "--speed", "100",
                              "--edges", "b2", "--broker", original_broker.url, "--port", "0", "--json",
                              "--data-dir", str(tmp_path / "original"))  # fmt: skip
            assert up.returncode == 0, up.stderr[-3000:]
            recorder.send_signal(signal.SIGTERM)
            assert recorder.wait(timeout=30) == 0, log.read_text()
        finally:
            if recorder.poll() is None:
                recorder.kill()
                recorder.wait(10)
    finally:
        original_broker.stop()
    report = json.loads(up.stdout)
    original = alarm_story(Database(default_url(tmp_path / "original")))
    assert [(a["kind"], a["device"]) for a in report["alarms"]] == [("smoke", "b2-u1-1502-smoke")]
    assert original["events"][0][4] == "raised" and original["events"][-1][4] == "cleared"
    info = recording.Recording(out).info()
    assert info.topics["compound/v1/sunrise-garden/b2/event/b2-u1-1502-smoke"] == len(original["events"])

    # The original run took ~13 s at x100: x1 replays it in its recorded real time.
    for name, pace in (("x1", ("--speed", "1")), ("fast", ("--as-fast-as-possible",))):
        broker = MosquittoServer(tmp_path / f"broker-{name}")
        broker.start()
        hub = start_hub(broker, tmp_path / f"hub-{name}", tmp_path / f"hub-{name}.log")
        try:
            replay = compound_cli("replay", str(out), "--broker", broker.url, *pace, "--json")
            assert replay.returncode == 0, replay.stderr[-3000:]
            assert json.loads(replay.stdout.strip().splitlines()[-1])["acknowledged"] == info.messages
            db = Database(default_url(tmp_path / f"hub-{name}"))
            wait_for(lambda db=db: len(alarm_story(db)["events"]) >= len(original["events"]), 30,  # type: ignore[misc]
                     f"the replayed events in the {name} hub")  # fmt: skip
            assert alarm_story(db) == original, name
        finally:
            hub.terminate()
            hub.wait(30)
            broker.stop()


def run_lift_camera(compound: Compound, broker: MosquittoServer, data_dir: Path, source: str) -> tuple[Any, ...]:
    """One edge agent with the lift camera on ``source`` for the clip's 50 s at x5: the lift's commands and the
    events it published."""
    prefix = f"{compound.prefix}/v1/{compound.id}/b2/"
    sub = Collector(broker.port, prefix + "event/#", f"rr-{data_dir.name}", filter_prefix=(prefix,))
    sub.start()
    start = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
    options = AgentOptions(tick_s=1.0, reading_interval_s=0, heartbeat_interval_s=3600,
                           until=start + timedelta(seconds=50), cameras=True,
                           camera_sources=((LIFT_CAM, source), (LANE_CAM, "off")))  # fmt: skip
    agent = EdgeAgent(compound, "b2", [], ScaledClock(start, speed=5.0), host=broker.host, port=broker.port,
                      data_dir=data_dir, options=options)  # fmt: skip
    try:
        assert agent.cameras is not None
        lift = agent.cameras.actuators[LIFT_CAM]
        assert isinstance(lift, SimulatedLift)
        asyncio.run(asyncio.wait_for(agent.run(), timeout=120))
        wait_for(lambda: len(sub.events()) >= 2, 15, "the lift camera's events")
        return lift, sub.events()
    finally:
        sub.stop()


def test_a_recorded_lift_clip_replayed_into_an_edge_gives_the_same_detections_and_hold(
    compound: Compound, mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    """Test that an e-bike clip recorded with ``record --frames`` and played through the ``recording:`` camera source
    holds the lift when the rendered clip did, with the same detections, and that ``replay --into-edge`` does it."""
    simulators.register()
    recording.register()
    clip = tmp_path / "lift.mcap"
    made = compound_cli("record", "--frames", f"{LIFT_CAM}=sim:lift-ebike:1", str(clip))
    assert made.returncode == 0, made.stderr
    assert recording.Recording(clip).info().cameras == {LIFT_CAM: 250}  # 50 s at 5 fps

    live_lift, live_events = run_lift_camera(compound, mosquitto, tmp_path / "live", "sim:lift-ebike:1")
    lift, events = run_lift_camera(compound, mosquitto, tmp_path / "replayed", f"recording:{clip}#{LIFT_CAM}")

    assert [(e.kind, e.state) for e in events] == [(e.kind, e.state) for e in live_events] == [
        (EventKind.EBIKE_IN_LIFT, EventState.RAISED), (EventKind.EBIKE_IN_LIFT, EventState.CLEARED)]  # fmt: skip
    for command in ("hold", "release"):
        live_at, replayed_at = live_lift.first(command).t, lift.first(command).t
        assert abs(live_at - replayed_at) <= 1.0, (command, live_lift.commands, lift.commands)  # a skipped frame or two
    live_raised, raised = live_events[0], events[0]
    assert raised.evidence is not None and live_raised.evidence is not None
    got = sorted((d.cls, d.score) for d in raised.evidence.detections)
    want = sorted((d.cls, d.score) for d in live_raised.evidence.detections)
    assert [c for c, _ in got] == [c for c, _ in want] and "ebike" in [c for c, _ in got]
    assert all(abs(a - b) <= 0.1 for (_, a), (_, b) in zip(got, want, strict=True)), (got, want)

    prefix = f"{compound.prefix}/v1/{compound.id}/b2/"
    sub = Collector(mosquitto.port, prefix + "event/#", "rr-into-edge", filter_prefix=(prefix,))
    sub.start()
    try:
        into = compound_cli("replay", str(clip), "--into-edge", "--edge", "b2", "--broker", mosquitto.url,
                            "--speed", "5", "--tail", "2", "--data-dir", str(tmp_path / "into"))  # fmt: skip
        assert into.returncode == 0, into.stderr[-3000:]
        assert "0 samples and 250 frames into edge b2" in into.stderr
        wait_for(lambda: len(sub.events()) >= 2, 15, "the edge's events from the replayed clip")
        assert [(e.kind, e.state) for e in sub.events()] == [(e.kind, e.state) for e in live_events]
    finally:
        sub.stop()


def test_a_recorded_scenario_replayed_into_an_edge_runs_the_rules_again(
    mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    """Test that ``sim run --record`` samples, fed to an edge by ``replay --into-edge``, raise and clear the fire
    alarm of kitchen-fire-night through the real rules, on the recorded device and nothing else."""
    fire = tmp_path / "fire-samples.mcap"
    made = compound_cli("sim", "run", "kitchen-fire-night", "--record", str(fire))
    assert made.returncode == 0, made.stderr
    prefix = "compound/v1/sunrise-garden/b2/"
    sub = Collector(mosquitto.port, prefix + "event/#", "rr-fire-into-edge", filter_prefix=(prefix,))
    sub.start()
    try:
        into = compound_cli("replay", str(fire), "--into-edge", "--broker", mosquitto.url, "--speed", "100",
                            "--data-dir", str(tmp_path / "edge"))  # fmt: skip
        assert into.returncode == 0, into.stderr[-3000:]
        wait_for(lambda: any(e.state is EventState.CLEARED for e in sub.events()), 15, "the fire's clear")
        events = sub.events()
        assert {(e.device, e.kind) for e in events} == {("b2-u1-1502-smoke", EventKind.SMOKE)}
        assert events[0].state is EventState.RAISED and events[-1].state is EventState.CLEARED
        assert events[0].occurred_at.isoformat().startswith("2026-11-23T18:0")  # the recorded night, not today
    finally:
        sub.stop()
