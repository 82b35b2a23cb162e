"""Tests of the lift rule end to end: rendered scenario -> pipeline -> lift commands, events, snapshots.

The hard negatives (bicycle, pram, wheelchair, walker, mobility scooter, people) are library scenarios:
``tests/edge/vision/test_camera_library.py`` plays held-out clips of each.
"""

from __future__ import annotations

import cv2
import numpy as np

from compound import wire
from compound.wire import EventKind, EventState, Location, MessageType
from edge.vision import CameraPipeline, EbikeInLiftRule, OnnxDetector, SimulatedLift, Zone
from edge.vision.config import VisionFile
from edge.vision.pipeline import CameraDevice, VisionDraft
from simulators.camera import SimulatedCamera, build

LIFT_CAM = "b2-u1-lift1-cam"


def lift_pipeline(detector: OnnxDetector, vision: VisionFile, lift: SimulatedLift) -> CameraPipeline:
    """The lift camera pipeline as configured in configs/vision.yaml."""
    cam = next(c for c in vision.cameras if c.device == LIFT_CAM)
    assert cam.lift is not None
    zone = Zone(cam.zones[0].name, tuple(cam.zones[0].polygon))
    rule = EbikeInLiftRule(lift, zone, cam.lift.min_score, cam.lift.confirm_hits, cam.lift.window,
                           cam.lift.clear_after_s)
    device = CameraDevice(LIFT_CAM, "lift", Location(building="b2", unit="u1", place="lift-1"))
    return CameraPipeline(device, detector, rule, compound="sunrise-garden", edge="b2")


def play(pipe: CameraPipeline, scenario_name: str, seed: int) -> list[VisionDraft]:
    """Run a scenario through the pipeline and collect its drafts."""
    drafts: list[VisionDraft] = []
    for _, out in pipe.run(SimulatedCamera(build(scenario_name, seed))):
        drafts.extend(out)
    return drafts


def test_ebike_holds_the_lift_publishes_a_snapshot_and_releases(detector: OnnxDetector, vision: VisionFile) -> None:
    """Test that an e-bike wheeled in holds the doors with a warning, raises an event with a boxed JPEG, then clears."""
    lift = SimulatedLift()
    drafts = play(lift_pipeline(detector, vision, lift), "lift-ebike", seed=0)
    assert [c.name for c in lift.commands] == ["hold", "warn", "release"]
    hold, release = lift.commands[0], lift.commands[2]
    assert 12.0 <= hold.t < 20.0, "held after the e-bike came in (t=12 s), well before it left"
    assert release.t > 40.0, "released only after the e-bike was taken out (t=40 s)"
    assert not lift.held
    assert [d.verdict.state for d in drafts] == [EventState.RAISED, EventState.CLEARED]
    raised, cleared = drafts
    # drafts fit the edge agent's event backlog: device, open condition while raised, none once cleared
    assert raised.verdict.device == LIFT_CAM and raised.event_topic.endswith(f"/event/{LIFT_CAM}")
    assert raised.condition is not None and raised.condition.raised_id == raised.id
    assert cleared.condition is None
    event = raised.event(seq=7)
    assert event.kind is EventKind.EBIKE_IN_LIFT and event.seq == 7
    assert event.evidence is not None and event.evidence.snapshot == event.id
    assert any(d.cls == "ebike" and d.track_id is not None for d in event.evidence.detections)
    # the event survives the wire, and the snapshot topic names the event
    assert wire.parse(MessageType.EVENT, wire.dump(event)) == event
    topic = wire.parse_topic(raised.snapshot_topic)
    assert (topic.type, topic.device, topic.edge) == (MessageType.SNAPSHOT, event.id, "b2")
    # the snapshot is a JPEG of the frame with the e-bike's box drawn in red
    assert raised.snapshot is not None and raised.snapshot[:2] == b"\xff\xd8"
    image = cv2.imdecode(np.frombuffer(raised.snapshot, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (240, 320, 3)
    b, g, r = image[..., 0].astype(int), image[..., 1].astype(int), image[..., 2].astype(int)
    assert int(np.count_nonzero((r > 200) & (g < 60) & (b < 60))) > 100
    clear_event = cleared.event(seq=8)
    assert clear_event.state is EventState.CLEARED and clear_event.raised_id == event.id
    assert cleared.snapshot is None
