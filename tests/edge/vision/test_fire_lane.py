"""Tests of the fire-lane rule end to end: parked objects alarm after the dwell, traffic and brief stops never.

Brief stops, deliveries and passers-by at the configured dwell are library scenarios:
``tests/edge/vision/test_camera_library.py`` plays held-out clips of each.
"""

from __future__ import annotations

from compound.wire import EventKind, EventState, Location
from edge.vision import CameraPipeline, FireLaneRule, MotionGate, OnnxDetector, Zone
from edge.vision.config import VisionFile
from edge.vision.pipeline import CameraDevice, VisionDraft
from simulators.camera import SimulatedCamera, build

LANE_CAM = "b2-fire-lane-cam"


def lane_pipeline(detector: OnnxDetector, vision: VisionFile, dwell_s: float) -> CameraPipeline:
    """The fire-lane pipeline as configured, with the dwell overridden."""
    cam = next(c for c in vision.cameras if c.device == LANE_CAM)
    assert cam.fire_lane is not None
    zone = Zone(cam.zones[0].name, tuple(cam.zones[0].polygon))
    rule = FireLaneRule(zone, dwell_s, cam.fire_lane.clear_after_s, cam.fire_lane.min_score)
    device = CameraDevice(LANE_CAM, "fire_lane", Location(building="b2", place="fire-lane-north"))
    return CameraPipeline(device, detector, rule, compound="sunrise-garden", edge="b2",
                          gate=MotionGate(recheck_s=vision.motion.recheck_s))


def play(pipe: CameraPipeline, name: str, seed: int, until_s: float | None = None) -> list[tuple[float, VisionDraft]]:
    """Run a scenario (optionally only its first ``until_s`` seconds) and collect (t, draft)."""
    out = []
    source = SimulatedCamera(build(name, seed))
    limit = None if until_s is None else int(until_s * source.fps)
    for frame, drafts in pipe.run(source, max_frames=limit):
        out.extend((frame.t, d) for d in drafts)
    return out


def test_parked_car_alarms_after_the_dwell_with_a_snapshot(detector: OnnxDetector, vision: VisionFile) -> None:
    """Test that a car parked in the lane raises fire_lane_blocked once it has stood still for the dwell."""
    pipe = lane_pipeline(detector, vision, dwell_s=20.0)
    events = play(pipe, "fire-lane-parked", seed=1, until_s=45.0)
    assert len(events) == 1
    t, draft = events[0]
    assert draft.verdict.kind is EventKind.FIRE_LANE_BLOCKED and draft.verdict.state is EventState.RAISED
    assert 28.0 <= t <= 40.0, "parked at t~10 s (slowing to a stop counts as still), dwell 20 s, re-check 2 s"
    event = draft.event(seq=1)
    assert event.unit == "s" and event.value is not None and event.value >= 20.0 and event.threshold == 20.0
    assert draft.snapshot is not None and draft.snapshot[:2] == b"\xff\xd8"
    assert pipe.stats.detector_runs < pipe.stats.frames, "the motion gate skipped still frames"


def test_stop_longer_than_dwell_alarms_then_clears_when_the_car_leaves(
    detector: OnnxDetector, vision: VisionFile
) -> None:
    """Test that a 25 s stop with a 10 s dwell raises, and clears after the car drives off and the lane is free."""
    events = play(lane_pipeline(detector, vision, dwell_s=10.0), "fire-lane-brief-stop", seed=0)
    states = [d.verdict.state for _, d in events]
    assert states == [EventState.RAISED, EventState.CLEARED]
    assert events[1][1].raised_id == events[0][1].id
    assert events[1][0] > 33.0, "cleared only after the car left at t=33 s"
