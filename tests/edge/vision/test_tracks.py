"""Specification of the pixel evidence and the path tests the camera rules act on (``edge/vision/tracks.py``).

A still picture never moves: what stood in view when the camera started, or what the model imagines in a
poster, is part of the scene (the motion gate's background) and never stands out from it. An object that is
wheeled in, driven in or dumped does. The lift holds for an e-bike *seen entering*; the fire lane dwells on
an object that *arrived*. Everything here is built by hand (no model, no renders).
"""

from __future__ import annotations

import numpy as np

from compound.wire import EventState
from edge.vision import Detection, EbikeInLiftRule, FireLaneRule, MotionGate, SimulatedLift, SortTracker, Zone
from edge.vision.motion import BACKGROUND_S, ForegroundMap
from edge.vision.tracker import Track
from edge.vision.tracks import MAX_GAP_S, arrived, seen_entering
from edge.vision.types.lift import DEFAULT_DOOR

Box = tuple[float, float, float, float]
CAR = Zone("car-floor", ((0.12, 0.30), (0.95, 0.30), (1.0, 1.0), (0.0, 1.0)))  # configs/vision.yaml
NOTHING = ForegroundMap.empty()


def scene(seed: int = 0) -> np.ndarray:
    """A textured 320x240 picture (a wall, a floor: anything the camera keeps seeing)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(40, 200, (24, 32, 3), dtype=np.uint8)
    return np.repeat(np.repeat(small, 10, axis=0), 10, axis=1)


def with_object(image: np.ndarray, box: Box) -> np.ndarray:
    """``image`` with a white object painted over ``box`` (normalized)."""
    out = image.copy()
    h, w = out.shape[:2]
    out[int(box[1] * h) : int(box[3] * h), int(box[0] * w) : int(box[2] * w)] = 255
    return out


def path(boxes: list[Box], *, standing_out: bool = True, dt: float = 0.2, cls: str = "ebike") -> Track:
    """The track a tracker makes of ``boxes`` seen one detector run apart, standing out from the scene or not."""
    tracker = SortTracker(iou_threshold=0.05)
    for k, box in enumerate(boxes):
        tracker.update([Detection(cls, 0.9, box)], k * dt, NOTHING.with_box(box) if standing_out else NOTHING)
    assert len(tracker.tracks) == 1, "one object, one track"
    return tracker.tracks[0]


def wheeled_in(steps: int = 8, start: float = 0.45, step: float = 0.03) -> list[Box]:
    """Boxes of an object wheeled from the far-wall door (default door zone) into the car, ``step`` deeper each run."""
    return [(0.4, start - 0.2 + step * k, 0.6, start + step * k) for k in range(steps)]


# ------------------------------------------------------------------ the pixel evidence


def test_what_the_camera_sees_when_it_starts_is_the_scene() -> None:
    """Test that nothing stands out on the first frame, nor in a still picture fed frame after frame."""
    gate, image = MotionGate(), with_object(scene(), (0.3, 0.3, 0.6, 0.8))
    for k in range(50):
        fg = gate.check(image, k * 0.2).foreground
        assert fg is not None and fg.fraction((0.3, 0.3, 0.6, 0.8)) == 0.0


def test_an_object_that_appears_stands_out_until_it_fades_into_the_scene() -> None:
    """Test that an object appearing in a still scene stands out at once, and after standing still several times
    ``BACKGROUND_S`` it has become part of the scene."""
    gate, empty, box = MotionGate(), scene(), (0.3, 0.4, 0.6, 0.9)
    gate.check(empty, 0.0)
    gate.check(empty, 0.2)
    fg = gate.check(with_object(empty, box), 0.4).foreground
    assert fg is not None and fg.fraction(box) > 0.8
    assert fg.fraction((0.7, 0.1, 0.9, 0.3)) == 0.0, "the rest of the scene does not"
    t = 0.4
    while t < 5 * BACKGROUND_S:
        t += 0.2
        fg = gate.check(with_object(empty, box), t).foreground
    assert fg is not None and fg.fraction(box) == 0.0


def test_a_slow_mover_adds_up_until_the_gate_looks() -> None:
    """Test that a faint object creeping too slowly to change the small picture from one frame to the next (1 px
    a frame) still gets the detector run within 2 s: the gate compares each frame with the one the detector
    last looked at, not with the previous one (which never saw it move)."""
    base = scene().astype(np.int16)

    def creeping(x: int) -> np.ndarray:
        image = base.copy()
        image[100:180, x : x + 60] += 30
        return np.clip(image, 0, 255).astype(np.uint8)

    gate = MotionGate(recheck_s=100.0, hold_s=0.0)
    assert gate.check(creeping(100), 0.0).run
    runs = [k for k in range(1, 11) if gate.check(creeping(100 + k), 0.2 * k).run]
    assert runs, "the creeping object was never looked at"


def test_a_wholesale_change_restarts_the_scene() -> None:
    """Test that lights switched on (the whole picture brighter at once) make nothing stand out."""
    gate, image = MotionGate(), with_object(scene(), (0.3, 0.3, 0.6, 0.8))
    gate.check(image, 0.0)
    brighter = np.clip(image.astype(np.int16) + 60, 0, 255).astype(np.uint8)
    fg = gate.check(brighter, 0.2).foreground
    assert fg is not None and not fg.mask.any()


# ------------------------------------------------------------------ seen entering (the lift)


def test_an_object_wheeled_in_from_the_door_is_seen_entering() -> None:
    """Test that a track coming from the door zone into the car, standing out from the scene, has entered."""
    assert seen_entering(path(wheeled_in()), DEFAULT_DOOR, CAR)


def test_the_same_boxes_in_a_still_picture_never_entered() -> None:
    """Test that boxes that move over a still picture (nothing standing out under them) never entered: the
    model's boxes alone prove nothing."""
    assert not seen_entering(path(wheeled_in(), standing_out=False), DEFAULT_DOOR, CAR)


def test_an_object_that_never_came_through_the_door_never_entered() -> None:
    """Test that an object moving about inside the car, first seen well inside it, never entered."""
    assert not seen_entering(path(wheeled_in(start=0.75)), DEFAULT_DOOR, CAR)


def test_an_object_standing_at_the_door_has_not_entered() -> None:
    """Test that an object standing out in the door zone but not coming in (a poster by the door, someone
    waiting) has not entered."""
    assert not seen_entering(path(wheeled_in(step=0.0)), DEFAULT_DOOR, CAR)


def test_an_object_taken_out_is_not_entering() -> None:
    """Test that the reverse path, from inside the car out to the door, is not an entry."""
    assert not seen_entering(path(wheeled_in()[::-1]), DEFAULT_DOOR, CAR)


def test_an_entry_must_be_seen_over_consecutive_runs() -> None:
    """Test that sightings further apart than ``MAX_GAP_S`` (a lost object found again elsewhere) are no entry."""
    assert not seen_entering(path(wheeled_in(steps=3, step=0.1), dt=MAX_GAP_S + 0.5), DEFAULT_DOOR, CAR)


def test_the_lift_never_holds_for_an_ebike_that_was_not_seen_entering() -> None:
    """Test that a confidently scored e-bike standing in the car from the start (a photo, a poster, a parked
    e-bike the camera never saw come in) never holds the doors, while the same sightings wheeled in do."""
    for boxes, standing_out, holds in ((wheeled_in(step=0.0, start=0.8), False, False), (wheeled_in(), True, True)):
        lift = SimulatedLift()
        rule, tracker = EbikeInLiftRule(lift, CAR), SortTracker(iou_threshold=0.05)
        for k, box in enumerate(boxes * 4 if not holds else boxes):
            fg = NOTHING.with_box(box) if standing_out else NOTHING
            rule.update(tracker.update([Detection("ebike", 0.95, box)], k * 0.2, fg), k * 0.2, True)
        assert lift.held is holds, boxes


# ------------------------------------------------------------------ arrived (the fire lane)


def test_an_object_first_seen_standing_out_arrived() -> None:
    """Test that an object that appeared (dumped) or drove in, standing out from the scene, arrived."""
    assert arrived(path([(0.3, 0.5, 0.5, 0.7)] * 5, cls="heap"))
    assert arrived(path([(0.05 * k, 0.5, 0.05 * k + 0.2, 0.7) for k in range(8)], cls="car"))


def test_an_object_in_the_scene_from_the_start_never_arrived() -> None:
    """Test that an object that was part of the scene (nothing stands out under it), even if its box jitters, never
    arrived."""
    jitter = [(0.3 + 0.01 * (k % 2), 0.5, 0.5 + 0.01 * (k % 2), 0.7) for k in range(30)]
    assert not arrived(path(jitter, standing_out=False, cls="car"))


def _car(track_id: int, box: Box, t: float, *, standing_out: bool) -> Track:
    tr = path([box], standing_out=standing_out, cls="car")
    tr.id, tr.first_seen, tr.last_seen, tr.still_since = track_id, t, t, t
    return tr


def test_the_fire_lane_never_alarms_for_an_object_that_never_arrived() -> None:
    """Test that a 'car' the model sees in the lane from the start never dwells, also when a passer-by hides it
    and it is re-tracked under a new id in changing pixels (the spot remembers it never arrived)."""
    rule = FireLaneRule(Zone.whole_frame(), dwell_s=10.0, clear_after_s=10.0)
    box = (0.30, 0.60, 0.50, 0.80)
    verdicts = []
    for step in range(120):
        t = step * 1.0
        if t < 30:
            tracks = [_car(1, box, 0.0, standing_out=False)]
        elif t < 32:
            tracks = []  # hidden by a passer-by
        else:
            tracks = [_car(2, box, 32.0, standing_out=True)]  # uncovered: the pixels under it just changed
        verdicts += [(t, v.state) for v in rule.update(tracks, t, detected=True)]
    assert verdicts == []


def test_the_fire_lane_alarms_for_an_object_that_arrived_and_stayed() -> None:
    """Test that the same 'car', first seen standing out from the scene, raises after the dwell."""
    rule = FireLaneRule(Zone.whole_frame(), dwell_s=10.0, clear_after_s=10.0)
    box = (0.30, 0.60, 0.50, 0.80)
    verdicts = []
    for step in range(20):
        t = step * 1.0
        tr = _car(1, box, 0.0, standing_out=True)
        verdicts += [(t, v.state) for v in rule.update([tr], t, detected=True)]
    assert verdicts == [(10.0, EventState.RAISED)]
