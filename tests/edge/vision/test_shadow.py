"""Shadow mode on rendered clips: a candidate detector beside the live one on the same frames; its verdicts are
recorded as ``ShadowReport``s and never acted on (no lift command, no event), whichever of the two raises.

The live and candidate detectors here are the shipped model, one of them with its ``ebike`` class renamed (a
``class_map``) so that it can never see an e-bike: a candidate that would have missed the e-bike, or a live
model that misses it while the candidate would have held the lift. Each clip takes 10-20 s of CPU (two
detectors): those tests are ``slow``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from compound import wire
from compound.config import Compound
from edge.vision import DetectorError, SimulatedLift, build_pipelines
from edge.vision.config import ModelConfig, VisionConfigError, VisionFile
from edge.vision.pipeline import CameraPipeline, VisionDraft
from simulators.camera import SimulatedCamera, build

LIFT_CAM = "b2-u1-lift1-cam"
BLIND = {"ebike": "bicycle"}  # a detector that calls every e-bike a bicycle


def lift_with_shadow(
    compound: Compound, vision: VisionFile, lift: SimulatedLift, *, live: ModelConfig, shadow: ModelConfig
) -> CameraPipeline:
    """The lift camera's pipeline from the sample config, the candidate in shadow mode beside it."""
    config = vision.model_copy(update={"model": live, "shadow_model": shadow, "shadow_cameras": [LIFT_CAM]})
    pipes = build_pipelines(compound, config, "b2", actuators={LIFT_CAM: lift})
    pipe = next(p for p in pipes if p.device.id == LIFT_CAM)
    assert pipe.shadow is not None and all(p.shadow is None for p in pipes if p is not pipe)
    return pipe


def play(pipe: CameraPipeline, scenario: str, seed: int) -> list[VisionDraft]:
    drafts: list[VisionDraft] = []
    for _, out in pipe.run(SimulatedCamera(build(scenario, seed))):
        drafts.extend(out)
    return drafts


@pytest.mark.slow
def test_a_candidate_that_agrees_is_recorded_and_the_live_model_alone_acts(
    compound: Compound, vision: VisionFile
) -> None:
    """Test that with the same model live and in shadow, the e-bike clip holds the lift once (the live rule), yields
    one raise and one clear (no event from the shadow), and one report where both raised, with detections and
    model names, that survives the wire."""
    lift = SimulatedLift()
    pipe = lift_with_shadow(compound, vision, lift, live=vision.model, shadow=vision.model)
    drafts = play(pipe, "lift-ebike", seed=0)
    assert [c.name for c in lift.commands] == ["hold", "warn", "release"]
    assert [d.verdict.state for d in drafts] == [wire.EventState.RAISED, wire.EventState.CLEARED]
    assert pipe.shadow is not None and pipe.shadow.raised == 1 and pipe.shadow.detector_runs > 0
    (report,) = pipe.shadow.reports
    assert report.live_raised and report.shadow_raised and report.device == LIFT_CAM
    assert report.kind is wire.EventKind.EBIKE_IN_LIFT and report.until >= report.at
    assert any(d.cls == "ebike" for d in report.shadow_detections)
    assert any(d.cls == "ebike" for d in report.live_detections)
    assert report.shadow_model.startswith("compound_det.onnx ") and report.shadow_model == report.live_model
    assert wire.parse(wire.MessageType.SHADOW, wire.dump(report)) == report


@pytest.mark.slow
def test_a_candidate_that_would_hold_the_lift_never_does(compound: Compound, vision: VisionFile) -> None:
    """Test that when only the candidate sees the e-bike, the lift is never commanded and no event is drafted, and
    the report says shadow-only."""
    lift = SimulatedLift()
    live = vision.model.model_copy(update={"class_map": BLIND})
    pipe = lift_with_shadow(compound, vision, lift, live=live, shadow=vision.model)
    drafts = play(pipe, "lift-ebike", seed=0)
    assert lift.commands == [] and not lift.held
    assert drafts == []
    assert pipe.shadow is not None
    (report,) = pipe.shadow.reports
    assert (report.live_raised, report.shadow_raised) == (False, True)


@pytest.mark.slow
def test_a_candidate_that_would_miss_the_ebike_is_reported_live_only(compound: Compound, vision: VisionFile) -> None:
    """Test the other way round: the live model holds the lift as always; the report says live-only."""
    lift = SimulatedLift()
    blind = vision.model.model_copy(update={"class_map": BLIND})
    pipe = lift_with_shadow(compound, vision, lift, live=vision.model, shadow=blind)
    drafts = play(pipe, "lift-ebike", seed=1)
    assert [c.name for c in lift.commands] == ["hold", "warn", "release"]
    assert [d.verdict.state for d in drafts] == [wire.EventState.RAISED, wire.EventState.CLEARED]
    assert pipe.shadow is not None
    (report,) = pipe.shadow.reports
    assert (report.live_raised, report.shadow_raised) == (True, False)


def test_shadow_config_is_checked(compound: Compound, vision: VisionFile, tmp_path: Path) -> None:
    """Test that shadow_cameras naming an unknown camera is refused by name, and a missing candidate file too."""
    config = vision.model_copy(update={"shadow_model": vision.model, "shadow_cameras": ["no-such-cam"]})
    with pytest.raises(VisionConfigError, match="no-such-cam"):
        build_pipelines(compound, config, "b2")
    missing = ModelConfig(path=str(tmp_path / "candidate.onnx"))
    with pytest.raises(DetectorError, match=r"candidate\.onnx"):
        build_pipelines(compound, vision.model_copy(update={"shadow_model": missing}), "b2")


def test_a_camera_without_a_detector_gets_no_shadow(compound: Compound, vision: VisionFile) -> None:
    """Test that a façade camera (its rule reads the frames itself, no detector) runs no shadow model: there is
    nothing of a detector's to compare."""
    facades = [d.id for d in compound.devices.values() if d.type.value == "facade_camera"]
    assert facades, "the sample compound has a façade camera"
    edge = compound.devices[facades[0]].edge
    pipes = build_pipelines(compound, vision.model_copy(update={"shadow_model": vision.model}), edge)
    assert [p.shadow for p in pipes if p.device.id in facades] == [None]
