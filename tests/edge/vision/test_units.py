"""Unit tests of the vision building blocks: zones, tracker, motion gate, vision config, rules without a model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compound.config import load_config
from compound.wire import EventState
from edge.vision import (
    Detection,
    EbikeInLiftRule,
    FireLaneRule,
    MotionGate,
    SimulatedLift,
    SortTracker,
    VisionConfigError,
    Zone,
    build_pipelines,
    load_vision_config,
)
from edge.vision.decoders import decode_yolov5, decode_yolov8, nms
from edge.vision.detector import Detector
from edge.vision.motion import ForegroundMap

CONFIGS = Path(__file__).resolve().parents[3] / "configs"


def test_zone_tests_the_ground_point() -> None:
    """Test that a zone contains points inside its polygon and covers boxes standing in it."""
    lane = Zone("lane", ((0.0, 0.4), (1.0, 0.4), (1.0, 0.9), (0.0, 0.9)))
    assert lane.contains((0.5, 0.5)) and not lane.contains((0.5, 0.2))
    assert lane.covers((0.3, 0.1, 0.5, 0.6)), "a tall box whose feet are in the lane is in the lane"
    assert not lane.covers((0.3, 0.0, 0.5, 0.3)), "a box above the lane (on the wall) is not"
    with pytest.raises(ValueError, match="3 vertices"):
        Zone("bad", ((0.0, 0.0), (1.0, 1.0)))


def _det(x: float, cls: str = "car", score: float = 0.9) -> Detection:
    return Detection(cls, score, (x, 0.5, x + 0.2, 0.7))


def test_tracker_keeps_ids_for_moving_objects_and_drops_lost_ones() -> None:
    """Test that two objects moving across frames keep their ids, and a vanished one is dropped after max_age."""
    tracker = SortTracker(max_age=2)
    ids = None
    for k in range(10):
        tracks = tracker.update([_det(0.05 + 0.02 * k), _det(0.6 - 0.02 * k, "person")], float(k))
        now = sorted((t.id, t.cls) for t in tracks)
        ids = ids or now
        assert now == ids
    for k in range(10, 14):
        tracker.update([_det(0.05 + 0.02 * k)], float(k))
    assert [t.cls for t in tracker.tracks] == ["car"]


def test_tracker_still_time_restarts_when_an_object_moves() -> None:
    """Test that still_since stays put for a parked object and restarts when it drives off."""
    tracker = SortTracker()
    for k in range(5):
        tracker.update([_det(0.3)], float(k))
    assert tracker.tracks[0].still_since == 0.0
    for k in range(5, 8):
        tracker.update([_det(0.3 + 0.05 * (k - 4))], float(k))
    assert tracker.tracks[0].still_since > 4.0


def test_motion_gate_skips_still_frames_and_rechecks() -> None:
    """Test that identical frames are skipped except for the periodic re-check, and motion always runs."""
    gate = MotionGate(recheck_s=2.0, hold_s=0.0)
    still = np.full((240, 320, 3), 90, np.uint8)
    runs = [gate.check(still, k * 0.2).run for k in range(21)]  # 0..4 s at 5 fps
    assert runs[0] and sum(runs) == 3, "first frame, then a re-check every 2 s"
    moved = still.copy()
    moved[100:160, 100:180] = 250
    assert gate.check(moved, 4.2).reason == "motion"


def test_vision_config_loads_and_builds_pipelines_per_edge() -> None:
    """Test that the sample vision.yaml validates and yields one pipeline per camera of edge b2, b1's façade camera,
    none for b3."""
    compound = load_config(CONFIGS)
    vision = load_vision_config(CONFIGS / "vision.yaml")
    pipes = build_pipelines(compound, vision, "b2", actuators={"b2-u1-lift1-cam": SimulatedLift()})
    assert sorted(p.device.kind for p in pipes) == ["fire_lane", "lift"]
    assert [p.device.kind for p in build_pipelines(compound, vision, "b1")] == ["facade"]
    assert build_pipelines(compound, vision, "b3") == []


def test_vision_config_errors_are_specific(tmp_path: Path) -> None:
    """Test that bad zones, unknown keys and unknown camera ids are reported clearly."""
    bad = tmp_path / "vision.yaml"
    bad.write_text("cameras:\n  - device: x\n    zones: [{name: z, polygon: [[0, 0], [2, 0], [1, 1]]}]\n")
    with pytest.raises(VisionConfigError, match="outside the frame"):
        load_vision_config(bad)
    bad.write_text("model: {treshold: 0.3}\n")
    with pytest.raises(VisionConfigError, match="treshold"):
        load_vision_config(bad)
    bad.write_text("cameras: [{device: no-such-cam}]\n")

    class NoDetector:
        class_names = ("person",)

        def detect(self, image: np.ndarray) -> list[Detection]:
            return []

    det: Detector = NoDetector()
    with pytest.raises(VisionConfigError, match="no-such-cam"):
        build_pipelines(load_config(CONFIGS), load_vision_config(bad), "b2", detector=det)


def _wheeled_in(k: int, cls: str) -> tuple[list[Detection], ForegroundMap]:
    """Detector run ``k`` of an object wheeled in through the default door (far wall), 0.03 of the frame deeper
    into the car each run, standing out from the scene the camera had been watching."""
    box = (0.4, 0.25 + 0.03 * k, 0.6, 0.45 + 0.03 * k)
    return [Detection(cls, 0.9, box)], ForegroundMap.empty().with_box(box)


def test_lift_rule_needs_confirmation_and_releases_after_the_gap() -> None:
    """Test that one e-bike sighting does not hold, three in a window do, and release follows clear_after_s."""
    lift = SimulatedLift()
    rule = EbikeInLiftRule(lift, clear_after_s=3.0)
    tracker = SortTracker()
    seq = ["bicycle", "ebike", "bicycle", "bicycle", "ebike", "ebike", "ebike"]
    verdicts = []
    for k, cls in enumerate(seq):
        lift.now = k * 0.2
        dets, foreground = _wheeled_in(k, cls)
        verdicts += rule.update(tracker.update(dets, k * 0.2, foreground), k * 0.2, True)
    assert [v.state for v in verdicts] == [EventState.RAISED]
    assert lift.first("hold") is not None and lift.first("hold").t == pytest.approx(1.2)  # type: ignore[union-attr]
    for k in range(7, 30):
        verdicts += rule.update(tracker.update([], k * 0.2), k * 0.2, True)
    assert [v.state for v in verdicts] == [EventState.RAISED, EventState.CLEARED]
    assert not lift.held


def test_fire_lane_rule_ignores_people_and_moving_cars() -> None:
    """Test that a person standing still and a car driving through never block the lane."""
    rule = FireLaneRule(dwell_s=5.0)
    tracker = SortTracker()
    verdicts = []
    for k in range(60):
        t = k * 0.2
        dets = [Detection("person", 0.9, (0.5, 0.4, 0.55, 0.6)), _det(-0.2 + 0.02 * k)]
        verdicts += rule.update(tracker.update(dets, t), t, True)
    assert verdicts == []


boxes = st.tuples(st.floats(5, 55), st.floats(5, 55), st.floats(2, 30), st.floats(2, 30))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(boxes, st.integers(0, 2), st.floats(0.05, 1.0)), min_size=0, max_size=12))
def test_yolov8_and_yolov5_decoders_agree(candidates: list[tuple[tuple[float, ...], int, float]]) -> None:
    """Test that any candidate set gives the same boxes through both layouts (property-based)."""
    nc = 3
    v8 = np.zeros((1, 4 + nc, len(candidates)), np.float32)
    for i, (box, c, s) in enumerate(candidates):
        v8[0, :4, i] = box
        v8[0, 4 + c, i] = s
    rows = v8[0].T
    obj = rows[:, 4:].max(axis=1, keepdims=True)
    v5 = np.concatenate([rows[:, :4], obj, rows[:, 4:] / np.maximum(obj, 1e-9)], axis=1)[None].astype(np.float32)
    a, b = nms(decode_yolov8(v8, nc, 0.25), 0.5), nms(decode_yolov5(v5, nc, 0.25), 0.5)
    assert a.classes.tolist() == b.classes.tolist()
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-4)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)


def test_motion_gate_ignores_camera_shake() -> None:
    """Test that a textured scene shifted by a few pixels (camera jitter) is not motion, a new object is."""
    rng = np.random.default_rng(0)
    import cv2

    scene = cv2.resize(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8), (320, 240), interpolation=cv2.INTER_LINEAR)
    gate = MotionGate(recheck_s=100.0, hold_s=0.0)
    assert gate.check(scene, 0.0).run
    shaken = np.roll(scene, (3, -5), axis=(0, 1))
    assert gate.check(shaken, 0.2).reason == "still"
    with_object = shaken.copy()
    with_object[60:180, 120:200] = 255
    assert gate.check(with_object, 0.4).reason == "motion"
