"""The camera half of the scenario library: every camera scenario through the real vision pipeline, as specified.

Each registered camera scenario (``simulators.camera.SCENARIOS``) has one ``CAMERA_EXPECTED`` entry: the camera
that watches it (configured as in ``configs/vision.yaml``), the events it must raise per kind in order, the
kinds it must not raise, and the lift commands. Clips are rendered on the held-out split (a background style
and seeds the detector's training never saw). A scenario registered without an entry fails; adding one is one
entry. The sensor half is ``EXPECTED`` in ``tests/system/test_scenarios_rules.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from compound.wire import EventKind, EventState
from edge.vision import CameraPipeline, OnnxDetector, SimulatedLift
from edge.vision.config import VisionFile
from simulators.camera import SCENARIOS, SimulatedCamera, build
from tests.edge.vision.test_fire_lane import LANE_CAM, lane_pipeline
from tests.edge.vision.test_lift import LIFT_CAM, lift_pipeline

RAISED, CLEARED = EventState.RAISED, EventState.CLEARED
SEEDS = (100_000,)
"""Held-out clip seeds (``models.evaluate`` uses 100 000 and up): one clip per scenario by default."""
HOLD = ("hold", "warn", "release")


@dataclass(frozen=True)
class CameraExpected:
    """What one camera scenario must do on every seed: events per kind in order, look-alikes it must not raise."""

    camera: str
    raises: dict[EventKind, list[EventState]] = field(default_factory=dict)
    must_not: frozenset[EventKind] = frozenset()
    lift: tuple[str, ...] = ()
    """Lift commands in order (lift cameras)."""
    raised_within: tuple[float, float] | None = None
    """Clip seconds within which the first raise must come."""
    seeds: tuple[int, ...] = SEEDS


NO_EBIKE = frozenset({EventKind.EBIKE_IN_LIFT})
NOT_BLOCKED = frozenset({EventKind.FIRE_LANE_BLOCKED})

CAMERA_EXPECTED: dict[str, CameraExpected] = {
    # Wheeled in at 12 s, out at 40 s: hold + warning within seconds of entering, release after it left.
    "lift-ebike": CameraExpected(
        LIFT_CAM,
        {EventKind.EBIKE_IN_LIFT: [RAISED, CLEARED]},
        lift=HOLD,
        raised_within=(12, 20),
        seeds=(100_000, 100_001, 100_002),
    ),
    # The look-alikes: holding the lift for a pram, a wheelchair or a bicycle is the worst failure.
    "lift-pram": CameraExpected(LIFT_CAM, must_not=NO_EBIKE, seeds=(100_000, 100_001, 100_002)),
    "lift-wheelchair": CameraExpected(LIFT_CAM, must_not=NO_EBIKE, seeds=(100_000, 100_001, 100_002)),
    "lift-bicycle": CameraExpected(LIFT_CAM, must_not=NO_EBIKE, seeds=(100_000, 100_001, 100_002)),
    "lift-walker": CameraExpected(LIFT_CAM, must_not=NO_EBIKE),
    "lift-mobility-scooter": CameraExpected(LIFT_CAM, must_not=NO_EBIKE),
    "lift-people": CameraExpected(LIFT_CAM, must_not=NO_EBIKE),
    # Parked from ~10 s to the end (150 s), dwell 60 s: raised once the car has stood still for the dwell.
    "fire-lane-parked": CameraExpected(
        LANE_CAM, {EventKind.FIRE_LANE_BLOCKED: [RAISED]}, raised_within=(68, 85), seeds=(100_000, 100_001)
    ),
    # A heap (even seeds) or an e-bike (odd seeds) left in the lane at 8 s: blocked, and no e-bike lift alarm.
    "fire-lane-heap": CameraExpected(
        LANE_CAM, {EventKind.FIRE_LANE_BLOCKED: [RAISED]}, NO_EBIKE, raised_within=(66, 85), seeds=(100_000, 100_001)
    ),
    # Stops under the dwell: a 25 s drop-off, a 40 s delivery (tricycle / car: no van class), traffic and walkers.
    "fire-lane-brief-stop": CameraExpected(LANE_CAM, must_not=NOT_BLOCKED),
    "fire-lane-delivery": CameraExpected(LANE_CAM, must_not=NOT_BLOCKED, seeds=(100_000, 100_001)),
    "fire-lane-passersby": CameraExpected(LANE_CAM, must_not=NOT_BLOCKED),
}

KNOWN_FAILURES: dict[tuple[str, int], str] = {
}
"""Seeds that fail their expectation today, with the reason; strict: they fail the run once they pass."""


def case(name: str, seed: int) -> object:
    """One (scenario, seed) test case, strictly expected to fail when it is a known failure."""
    reason = KNOWN_FAILURES.get((name, seed))
    return pytest.param(name, seed, marks=[pytest.mark.xfail(strict=True, reason=reason)] if reason else [])


CASES = [case(name, seed) for name, spec in sorted(CAMERA_EXPECTED.items()) for seed in spec.seeds]


def camera_pipeline(
    detector: OnnxDetector, vision: VisionFile, camera: str, lift: SimulatedLift, dwell_s: float | None = None
) -> CameraPipeline:
    """The configured pipeline of ``camera`` (lift or fire lane)."""
    if camera == LIFT_CAM:
        return lift_pipeline(detector, vision, lift)
    cam = next(c for c in vision.cameras if c.device == camera)
    assert cam.fire_lane is not None
    return lane_pipeline(detector, vision, dwell_s if dwell_s is not None else cam.fire_lane.dwell_s)


def play(pipe: CameraPipeline, name: str, seed: int) -> list[tuple[float, EventKind, EventState]]:
    """(clip seconds, kind, state) of every event draft of a held-out clip of ``name``."""
    return [
        (frame.t, d.verdict.kind, d.verdict.state)
        for frame, drafts in pipe.run(SimulatedCamera(build(name, seed, "heldout")))
        for d in drafts
    ]


def test_every_camera_scenario_has_an_expectation() -> None:
    """Test that each registered camera scenario is specified here, and nothing here names a missing one."""
    assert set(SCENARIOS) == set(CAMERA_EXPECTED)
    for name, spec in CAMERA_EXPECTED.items():
        assert not spec.must_not & set(spec.raises), f"{name}: a kind both required and forbidden"


@pytest.mark.parametrize(("name", "seed"), CASES)
def test_camera_scenario_raises_exactly_its_events(
    detector: OnnxDetector, vision: VisionFile, name: str, seed: int
) -> None:
    """Test that a held-out clip raises exactly the specified events (none of its look-alikes) and lift commands."""
    spec = CAMERA_EXPECTED[name]
    lift = SimulatedLift()
    events = play(camera_pipeline(detector, vision, spec.camera, lift), name, seed)
    shape = [(round(t, 1), k.value, s.value) for t, k, s in events]
    assert not [e for e in events if e[1] in spec.must_not], f"{name}:{seed} raised a look-alike: {shape}"
    got = {kind: [s for _, k, s in events if k is kind] for kind in {k for _, k, _ in events}}
    assert got == spec.raises, f"{name}:{seed}: {shape}"
    assert [c.name for c in lift.commands] == list(spec.lift), f"{name}:{seed}: {lift.commands}"
    if spec.raised_within is not None:
        lo, hi = spec.raised_within
        assert lo <= events[0][0] <= hi, f"{name}:{seed}: first raise outside {spec.raised_within}: {shape}"


def test_the_delivery_vehicle_is_seen_a_longer_stop_would_alarm(detector: OnnxDetector, vision: VisionFile) -> None:
    """Test that fire-lane-delivery's silence is the dwell's doing, not a blind detector: with a 20 s dwell its
    40 s stop raises fire_lane_blocked and clears when the vehicle drives on."""
    for seed in CAMERA_EXPECTED["fire-lane-delivery"].seeds[:1]:
        pipe = camera_pipeline(detector, vision, LANE_CAM, SimulatedLift(), dwell_s=20.0)
        events = play(pipe, "fire-lane-delivery", seed)
        blocked = [(k, s) for _, k, s in events]
        assert blocked == [(EventKind.FIRE_LANE_BLOCKED, RAISED), (EventKind.FIRE_LANE_BLOCKED, CLEARED)], seed
