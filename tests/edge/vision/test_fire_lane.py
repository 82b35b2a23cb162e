"""Tests of the fire-lane rule end to end: parked objects alarm after the dwell, traffic and brief stops never.

Brief stops, deliveries and passers-by at the configured dwell are library scenarios:
``tests/edge/vision/test_camera_library.py`` plays held-out clips of each.
"""

from __future__ import annotations

import numpy as np

from compound.wire import EventKind, EventState, Location
from edge.vision import CameraPipeline, FireLaneRule, MotionGate, OnnxDetector, Zone
from edge.vision.config import VisionFile
from edge.vision.pipeline import CameraDevice, VisionDraft
from edge.vision.tracker import Observation, Track
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


def _still_track(
    track_id: int, box: tuple[float, float, float, float], since: float, t: float, *, arrived: bool = True
) -> Track:
    """A confirmed car track standing still at ``box`` since ``since``, seen at ``t``; first seen standing out
    from the scene (it arrived) unless ``arrived`` is False (it stood there when the camera started)."""
    tr = Track(track_id, np.array(box, dtype=np.float64), since, t, still_since=since)
    tr.votes.append(("car", 0.9))
    tr.origin = Observation(since, box, foreground=0.6 if arrived else 0.0)
    return tr


def test_an_id_switch_on_occlusion_keeps_the_dwell() -> None:
    """Test that a parked car re-tracked under a new id (a passer-by hid it for a detection) keeps its still time:
    the lane is raised one dwell after the car stopped and stays raised, instead of clearing with the car there."""
    rule = FireLaneRule(Zone.whole_frame(), dwell_s=60.0, clear_after_s=10.0)
    car = (0.30, 0.60, 0.50, 0.80)
    verdicts = []
    for step in range(0, 200):
        t = step * 1.0
        if t < 30:
            tracks = [_still_track(1, car, 0.0, t)]
        elif t < 32:
            tracks = []  # hidden by a passer-by
        else:
            tracks = [_still_track(2, (0.31, 0.60, 0.51, 0.81), 32.0, t)]  # the same car, a new id, a new still time
        verdicts += [(t, v.state) for v in rule.update(tracks, t, detected=True)]
    assert verdicts == [(60.0, EventState.RAISED)]


def test_a_car_driving_over_an_old_spot_starts_its_own_dwell() -> None:
    """Test that a spot is forgotten a few seconds after its object left: a later car there does not inherit it."""
    rule = FireLaneRule(Zone.whole_frame(), dwell_s=60.0, clear_after_s=10.0)
    car = (0.30, 0.60, 0.50, 0.80)
    verdicts = []
    for step in range(0, 160):
        t = step * 1.0
        if t < 50:
            tracks = [_still_track(1, car, 0.0, t)]  # a 50 s stop: shorter than the dwell
        elif t < 70:
            tracks = []
        else:
            tracks = [_still_track(2, car, 70.0, t)]  # another car, 20 s later, on the same spot
        verdicts += [(t, v.state) for v in rule.update(tracks, t, detected=True)]
    assert verdicts == [(130.0, EventState.RAISED)]
