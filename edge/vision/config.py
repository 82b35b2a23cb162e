"""Vision configuration (``configs/vision.yaml``): the detector, the motion gate, and per-camera zones and rules.

Camera devices themselves (id, type, location, ``source``) live in ``devices.yaml``; this file adds
what only vision needs, keyed by device id, validated strictly like the rest of the config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

import edge.vision.types  # noqa: F401  (registers the built-in camera types)
from compound.config import Compound, Device
from compound.modelstore import sha256_of
from compound.wire import Location
from edge.vision.camera_types import CAMERA_KINDS, CameraKind, CameraSetup, camera_kind, kind_by_name
from edge.vision.detector import DEFAULT_MODEL, DETECTORS, Detector
from edge.vision.motion import MotionGate
from edge.vision.pipeline import CameraDevice, CameraPipeline
from edge.vision.rules import FrameRule
from edge.vision.shadow import ShadowRunner, model_label
from edge.vision.tracker import SortTracker
from edge.vision.zones import Zone

OptionsT = TypeVar("OptionsT", bound=BaseModel)

REPO_ROOT = Path(__file__).resolve().parents[2]


class VisionConfigError(ValueError):
    """``vision.yaml`` is invalid or disagrees with ``devices.yaml``."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelConfig(_Strict):
    """The detector: its implementation, an ONNX file, its output layout and class names, thresholds."""

    type: str = Field(
        default="onnx", max_length=64, description="Detector implementation, a key of DETECTORS (default onnx)."
    )
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

    @field_validator("type")
    @classmethod
    def _registered(cls, value: str) -> str:
        if value not in DETECTORS:
            raise ValueError(f"unknown detector type {value!r}; known: {', '.join(sorted(DETECTORS))}")
        return value

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


class CameraConfig(_Strict):
    """Vision settings of one camera device (``id`` from devices.yaml).

    Besides ``device``, ``fps``, ``offline_after_s`` and ``zones``, a camera may carry one options block per
    registered camera type, keyed by the type's name (``lift:``, ``fire_lane:``; see
    ``edge/vision/camera_types.py``), validated strictly by that type's model; any other key is an error.
    Read a block as an attribute (``cam.lift``) or with ``options_for(kind)``.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    device: str = Field(min_length=1, max_length=64, description="Camera device id in devices.yaml.")
    fps: float = Field(default=5.0, gt=0, le=60, description="Frames per second analysed.")
    offline_after_s: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="A live camera (rtsp://...) that sends no frame for this long raises device_offline.",
    )
    zones: list[ZoneConfig] = Field(
        default_factory=list, max_length=16, description="Car floor / lane polygons; none means the whole frame."
    )

    @model_validator(mode="after")
    def _type_options(self) -> CameraConfig:
        blocks = self.__pydantic_extra__ if self.__pydantic_extra__ is not None else {}
        for key, value in list(blocks.items()):
            kind = kind_by_name(key)
            if kind is None:
                known = ", ".join(sorted(k.name for k in CAMERA_KINDS.values()))
                raise ValueError(f"unknown key {key!r} (camera options are one of: {known})")
            try:
                blocks[key] = kind.options.model_validate(value)
            except ValidationError as exc:
                problems = "; ".join(f"{key}.{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
                raise ValueError(problems) from None
        return self

    def options_for(self, kind: CameraKind[OptionsT]) -> OptionsT:
        """This camera's options for ``kind`` (the model's defaults when it has no block)."""
        block = (self.__pydantic_extra__ or {}).get(kind.name)
        return block if isinstance(block, kind.options) else kind.options()


class VisionFile(_Strict):
    """``vision.yaml``."""

    model: ModelConfig = Field(default_factory=ModelConfig)
    motion: MotionConfig = Field(default_factory=MotionConfig)
    cameras: list[CameraConfig] = Field(default_factory=list, max_length=10000)
    shadow_model: ModelConfig | None = Field(
        default=None,
        description="A candidate detector run beside the live one on the same frames (shadow mode): its verdicts "
        "are recorded and published for comparison, never acted on.",
    )
    shadow_cameras: list[str] | None = Field(
        default=None, max_length=10000, description="Cameras that run the shadow model; default: every camera."
    )


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


def make_detector(model: ModelConfig) -> Detector:
    """The detector a config describes, built by the ``DETECTORS`` factory of its ``type`` (``onnx``)."""
    return DETECTORS[model.type](model)


def camera_devices(compound: Compound, edge: str) -> list[Device]:
    """The camera devices of ``edge``; ``UnknownCameraType`` for a camera type no module registers."""
    devices = [d for d in compound.devices_of_edge(edge) if d.is_camera]
    for dev in devices:
        camera_kind(dev)
    return devices


def build_pipelines(
    compound: Compound,
    vision: VisionFile,
    edge: str,
    *,
    actuators: dict[str, Any] | None = None,
    detector: Detector | None = None,
) -> list[CameraPipeline]:
    """One pipeline per camera device of ``edge``; a camera that acts locally commands ``actuators[device id]``.

    Raises ``VisionConfigError`` for cameras vision.yaml names that devices.yaml lacks, and
    ``UnknownCameraType`` (a ``ValueError``) for a camera whose type is not registered.
    """
    by_id = {c.device: c for c in vision.cameras}
    unknown = set(by_id) - set(compound.devices)
    if unknown:
        raise VisionConfigError(f"vision.yaml names cameras not in devices.yaml: {', '.join(sorted(unknown))}")
    unknown_shadow = set(vision.shadow_cameras or ()) - set(compound.devices)
    if unknown_shadow:
        names = ", ".join(sorted(unknown_shadow))
        raise VisionConfigError(f"vision.yaml shadow_cameras names cameras not in devices.yaml: {names}")
    det: Detector | None = detector
    shadow_det: Detector | None = None
    out = []
    for dev in camera_devices(compound, edge):
        kind = camera_kind(dev)
        cam = by_id.get(dev.id, CameraConfig(device=dev.id))
        zone = Zone(cam.zones[0].name, tuple(cam.zones[0].polygon)) if cam.zones else Zone.whole_frame()
        actuator = (actuators or {}).get(dev.id)
        rule = kind.rule(CameraSetup(dev, zone, cam.options_for(kind), actuator))
        if det is None:
            det = make_detector(vision.model)
        shadow = None
        shadowed = vision.shadow_cameras is None or dev.id in vision.shadow_cameras
        if vision.shadow_model is not None and shadowed and not isinstance(rule, FrameRule):  # a detector's rules
            if shadow_det is None:
                shadow_det = make_detector(vision.shadow_model)
            shadow = ShadowRunner(
                shadow_det,
                kind.rule(CameraSetup(dev, zone, cam.options_for(kind), None)),  # no actuator: never acts
                live_model=_label(vision.model),
                shadow_model=_label(vision.shadow_model),
            )
        m = vision.motion
        location = Location(building=dev.building, unit=dev.unit, floor=dev.floor, flat=dev.flat, place=dev.place)
        out.append(
            CameraPipeline(
                CameraDevice(dev.id, kind.name, location),
                det,
                rule,
                compound=compound.id,
                edge=edge,
                prefix=compound.prefix,
                gate=MotionGate(
                    pixel_threshold=m.pixel_threshold, min_changed=m.min_changed, recheck_s=m.recheck_s, hold_s=m.hold_s
                ),
                tracker=SortTracker(),
                shadow=shadow,
            )
        )
    return out


def _label(model: ModelConfig) -> str:
    path = model.resolved_path()
    return model_label(path, sha256_of(path) if path.is_file() else None)
