"""Vision configuration (``configs/vision.yaml``): the detector, the motion gate, and per-camera zones and rules.

Camera devices themselves (id, type, location, ``source``) live in ``devices.yaml``; this file adds
what only vision needs, keyed by device id, validated strictly like the rest of the config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from compound.config import Compound
from compound.config.models import DeviceType
from compound.wire import Location
from edge.vision.detector import DEFAULT_MODEL, Detector, OnnxDetector
from edge.vision.lift import LiftController
from edge.vision.motion import MotionGate
from edge.vision.pipeline import CameraDevice, CameraPipeline
from edge.vision.rules import EbikeInLiftRule, FireLaneRule, VisionRule
from edge.vision.tracker import SortTracker
from edge.vision.zones import Zone

REPO_ROOT = Path(__file__).resolve().parents[2]


class VisionConfigError(ValueError):
    """``vision.yaml`` is invalid or disagrees with ``devices.yaml``."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelConfig(_Strict):
    """The detector: an ONNX file, its output layout and class names, thresholds."""

    path: str = Field(
        default=str(DEFAULT_MODEL.relative_to(REPO_ROOT)),
        max_length=500,
        description="ONNX file; relative paths are from the repository root.",
    )
    layout: Literal["auto", "yolov8", "yolov5"] = Field(default="auto", description="Output layout.")
    classes: list[str] | None = Field(
        default=None, max_length=1000, description="Class names in model order; default: the model's metadata."
    )
    class_map: dict[str, str] = Field(
        default_factory=dict, description="Rename model classes to ours, e.g. {motorcycle: ebike}."
    )
    conf: float = Field(default=0.3, gt=0, lt=1, description="Minimum detection score.")
    iou: float = Field(default=0.5, gt=0, lt=1, description="NMS IoU threshold.")
    threads: int = Field(default=1, ge=1, le=64, description="onnxruntime intra-op threads.")

    def resolved_path(self) -> Path:
        """The model path, resolved against the repository root."""
        p = Path(self.path)
        return p if p.is_absolute() else REPO_ROOT / p


class MotionConfig(_Strict):
    """Motion gate parameters."""

    recheck_s: float = Field(default=2.0, gt=0, le=60, description="Run the detector at least this often.")
    min_changed: float = Field(default=0.004, ge=0, le=1, description="Fraction of changed pixels that is motion.")
    pixel_threshold: int = Field(default=18, ge=1, le=255, description="Grey-level difference of a changed pixel.")
    hold_s: float = Field(default=1.0, ge=0, le=60, description="Keep detecting this long after motion stops.")


class ZoneConfig(_Strict):
    """A polygon zone, vertices as [x, y] fractions of the frame."""

    name: str = Field(min_length=1, max_length=64)
    polygon: list[tuple[float, float]] = Field(min_length=3, max_length=64)

    @field_validator("polygon")
    @classmethod
    def _normalized(cls, pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
        for x, y in pts:
            if not (0 <= x <= 1 and 0 <= y <= 1):
                raise ValueError(f"vertex ({x}, {y}) is outside the frame: use fractions 0..1")
        return pts


class LiftRuleConfig(_Strict):
    """E-bike in the lift car."""

    min_score: float = Field(default=0.5, gt=0, lt=1, description="E-bike score that counts as a sighting.")
    confirm_hits: int = Field(default=3, ge=1, le=20, description="Sightings needed within the window.")
    window: int = Field(default=4, ge=1, le=30, description="Detector runs in the confirmation window.")
    clear_after_s: float = Field(default=5.0, gt=0, le=600, description="Release after the e-bike is gone this long.")

    @model_validator(mode="after")
    def _window(self) -> LiftRuleConfig:
        if self.confirm_hits > self.window:
            raise ValueError("confirm_hits cannot exceed window")
        return self


class FireLaneRuleConfig(_Strict):
    """Object dwelling in a fire lane."""

    dwell_s: float = Field(default=60.0, gt=0, le=86400, description="Standing still this long raises an alarm.")
    clear_after_s: float = Field(default=10.0, gt=0, le=3600, description="Clear after the lane is free this long.")
    min_score: float = Field(default=0.4, gt=0, lt=1, description="Detection score an object needs to count.")


class CameraConfig(_Strict):
    """Vision settings of one camera device (``id`` from devices.yaml)."""

    device: str = Field(min_length=1, max_length=64, description="Camera device id in devices.yaml.")
    fps: float = Field(default=5.0, gt=0, le=60, description="Frames per second analysed.")
    zones: list[ZoneConfig] = Field(
        default_factory=list, max_length=16, description="Car floor / lane polygons; none means the whole frame."
    )
    lift: LiftRuleConfig | None = None
    fire_lane: FireLaneRuleConfig | None = None


class VisionFile(_Strict):
    """``vision.yaml``."""

    model: ModelConfig = Field(default_factory=ModelConfig)
    motion: MotionConfig = Field(default_factory=MotionConfig)
    cameras: list[CameraConfig] = Field(default_factory=list, max_length=10000)


def load_vision_config(path: Path | str) -> VisionFile:
    """Read and validate ``vision.yaml``; raise ``VisionConfigError`` with every problem."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise VisionConfigError(f"{p}: {exc}") from exc
    try:
        return VisionFile.model_validate(data)
    except ValidationError as exc:
        lines = [f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise VisionConfigError(f"{p}: " + "; ".join(lines)) from exc


def make_detector(model: ModelConfig) -> OnnxDetector:
    """The ONNX detector a config describes."""
    return OnnxDetector(
        model.resolved_path(),
        class_names=model.classes,
        layout=model.layout,
        conf=model.conf,
        iou=model.iou,
        threads=model.threads,
        class_map=model.class_map,
    )


def build_pipelines(
    compound: Compound,
    vision: VisionFile,
    edge: str,
    *,
    lifts: dict[str, LiftController] | None = None,
    detector: Detector | None = None,
) -> list[CameraPipeline]:
    """One pipeline per camera device of ``edge`` (lift cameras command ``lifts[device id]``)."""
    by_id = {c.device: c for c in vision.cameras}
    det: Detector | None = detector
    out = []
    for dev in compound.devices_of_edge(edge):
        if dev.type not in (DeviceType.LIFT_CAMERA, DeviceType.FIRE_LANE_CAMERA):
            continue
        cam = by_id.get(dev.id, CameraConfig(device=dev.id))
        zone = Zone(cam.zones[0].name, tuple(cam.zones[0].polygon)) if cam.zones else Zone.whole_frame()
        rule: VisionRule
        lift = (lifts or {}).get(dev.id)
        if dev.type is DeviceType.LIFT_CAMERA:
            lc = cam.lift or LiftRuleConfig()
            rule = EbikeInLiftRule(lift, zone, lc.min_score, lc.confirm_hits, lc.window, lc.clear_after_s)
            kind: Literal["lift", "fire_lane"] = "lift"
        else:
            fc = cam.fire_lane or FireLaneRuleConfig()
            rule = FireLaneRule(zone, fc.dwell_s, fc.clear_after_s, fc.min_score)
            kind = "fire_lane"
        if det is None:
            det = make_detector(vision.model)
        m = vision.motion
        location = Location(building=dev.building, unit=dev.unit, floor=dev.floor, flat=dev.flat, place=dev.place)
        out.append(
            CameraPipeline(
                CameraDevice(dev.id, kind, location),
                det,
                rule,
                compound=compound.id,
                edge=edge,
                prefix=compound.prefix,
                gate=MotionGate(
                    pixel_threshold=m.pixel_threshold, min_changed=m.min_changed, recheck_s=m.recheck_s, hold_s=m.hold_s
                ),
                tracker=SortTracker(),
                lift=lift,
            )
        )
    unknown = set(by_id) - set(compound.devices)
    if unknown:
        raise VisionConfigError(f"vision.yaml names cameras not in devices.yaml: {', '.join(sorted(unknown))}")
    return out
