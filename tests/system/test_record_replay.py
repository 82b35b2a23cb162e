"""Record and replay across packages: a recorded fire replayed into a fresh hub, a recorded clip into an edge.

The issue's "done when": a recorded run of ``kitchen-fire-night``, replayed into a fresh hub at x1 and as
fast as possible, gives the same alarms (kind, place, state sequence) as the original run; a recorded camera
clip replayed into an edge gives the same detections and the same lift hold.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import simulators
from compound import recording
from compound.frames import Frame, FrameSource, RenderedSource
from compound.wire import EventKind, EventState
from edge.vision import DEFAULT_MODEL, OnnxDetector, SimulatedLift
from edge.vision.config import load_vision_config
from edge.vision.sources import open_source
from hub.db import Database, EventRecord, default_url
from hub.report import StoreMark, run_summary
from tests.edge.support import ROOT, Collector
from tests.edge.vision.test_lift import lift_pipeline
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
    # Every stored event crossed the broker (some twice, when the hub asked the edge to resend them).
    assert info.topics["compound/v1/sunrise-garden/b2/event/b2-u1-1502-smoke"] >= len(original["events"])

    # The original run took ~13 s at x100: x1 replays it in its recorded real time.
    for name, pace in (("x1", ("--speed", "1")), ("fast", ("--as-fast-as-possible",))):
        broker = MosquittoServer(tmp_path / f"broker-{name}")
        broker.start()
        # The recording ends with the edge's clean stop: supervision would page edge_offline, which the original
        # `compound up --duration` run (supervision off) never did.
        hub = start_hub(broker, tmp_path / f"hub-{name}", tmp_path / f"hub-{name}.log", "--no-edge-supervision")
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


def lift_run(source: FrameSource) -> tuple[list[Any], list[Any], list[tuple[Any, ...]]]:
    """Every frame of ``source`` through the lift pipeline of configs/vision.yaml, none skipped: per-frame
    detections (class, score, box), the lift's commands and the drafts (kind, state, t)."""
    vision = load_vision_config(ROOT / "configs" / "vision.yaml")
    detector = OnnxDetector(DEFAULT_MODEL, conf=vision.model.conf, iou=vision.model.iou, threads=1)
    lift = SimulatedLift()
    pipe = lift_pipeline(detector, vision, lift)
    detections: list[Any] = []
    drafts: list[tuple[Any, ...]] = []
    for frame, out in pipe.run(source):
        detections.append((frame.index, [(d.cls, d.score, d.box) for d in pipe.stats.last_detections]))
        drafts.extend((d.verdict.kind, d.verdict.state, d.verdict.t) for d in out)
    return detections, lift.commands, drafts


def assert_same_detections(got: list[Any], want: list[Any], conf: float, index: int) -> None:
    """The same objects in one frame: per class, paired by score, scores within 0.1 and boxes within 0.05 (JPEG
    moves them a little); an object only one side sees must be one the detector barely saw (score < conf + 0.1)."""
    for cls in {c for c, _, _ in got} | {c for c, _, _ in want}:
        mine = sorted((d for d in got if d[0] == cls), key=lambda d: -d[1])
        theirs = sorted((d for d in want if d[0] == cls), key=lambda d: -d[1])
        for (_, score, box), (_, live_score, live_box) in zip(mine, theirs, strict=False):
            assert abs(score - live_score) <= 0.1, (index, cls, score, live_score)
            assert max(abs(a - b) for a, b in zip(box, live_box, strict=True)) <= 0.05, (index, cls, box, live_box)
        for _, score, _ in mine[len(theirs) :] + theirs[len(mine) :]:
            assert score < conf + 0.1, (index, cls, got, want)


class RenderedClip:
    """The rendered clip read frame by frame at 5 fps, as ``record --frames`` rendered it."""

    name, fps = "sim:lift-ebike:1", 5.0

    def __init__(self) -> None:
        self.source = open_source(self.name)
        self.index = 0

    def read(self) -> Frame | None:
        assert isinstance(self.source, RenderedSource)
        frame = self.source.frame_at(self.index / self.fps)
        if frame is not None:
            frame.index, self.index = self.index, self.index + 1
        return frame

    def close(self) -> None:
        """Nothing held."""


def test_a_recorded_lift_clip_replayed_into_an_edge_gives_the_same_detections_and_hold(
    mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    """Test that an e-bike clip recorded with ``record --frames`` gives, frame by frame, the detections of the rendered
    clip and holds and releases the lift at the same frames; and that ``replay --into-edge`` holds it on an edge."""
    simulators.register()
    clip = tmp_path / "lift.mcap"
    made = compound_cli("record", "--frames", f"{LIFT_CAM}=sim:lift-ebike:1", str(clip))
    assert made.returncode == 0, made.stderr
    assert recording.Recording(clip).info().cameras == {LIFT_CAM: 250}  # 50 s at 5 fps

    live_detections, live_commands, live_drafts = lift_run(RenderedClip())
    detections, commands, drafts = lift_run(recording.open_recorded_camera(f"{clip}#{LIFT_CAM}"))
    assert [(c.name, c.t) for c in commands] == [(c.name, c.t) for c in live_commands]
    assert [c.name for c in commands] == ["hold", "warn", "release"]
    assert drafts == live_drafts and [(k, s) for k, s, _ in drafts] == [
        (EventKind.EBIKE_IN_LIFT, EventState.RAISED), (EventKind.EBIKE_IN_LIFT, EventState.CLEARED)]  # fmt: skip
    assert [i for i, _ in detections] == [i for i, _ in live_detections] == list(range(250))
    conf = load_vision_config(ROOT / "configs" / "vision.yaml").model.conf
    for (index, got), (_, want) in zip(detections, live_detections, strict=True):
        assert_same_detections(got, want, conf, index)

    prefix = "compound/v1/sunrise-garden/b2/"
    sub = Collector(mosquitto.port, prefix + "event/#", "rr-into-edge", filter_prefix=(prefix,))
    sub.start()
    try:
        into = compound_cli("replay", str(clip), "--into-edge", "--edge", "b2", "--broker", mosquitto.url,
                            "--speed", "5", "--tail", "2", "--data-dir", str(tmp_path / "into"))  # fmt: skip
        assert into.returncode == 0, into.stderr[-3000:]
        assert "0 samples and 250 frames into edge b2" in into.stderr
        wait_for(lambda: len(sub.events()) >= 2, 15, "the edge's events from the replayed clip")
        assert [(e.kind, e.state, e.device) for e in sub.events()] == [
            (EventKind.EBIKE_IN_LIFT, EventState.RAISED, LIFT_CAM),
            (EventKind.EBIKE_IN_LIFT, EventState.CLEARED, LIFT_CAM),
        ]
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
