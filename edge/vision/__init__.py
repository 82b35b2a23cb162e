"""Edge vision: camera sources, detectors (ONNX + YOLO decoders), motion gate, tracker, zones, camera types.

Registries: camera types (``CAMERA_KINDS``, ``register_camera_kind``; built-ins in ``edge/vision/types/``),
detectors (``DETECTORS``, ``register_detector``) and camera source schemes (``compound.frames``).
"""

from edge.vision.camera_types import (
    CAMERA_KINDS,
    CameraKind,
    CameraSetup,
    UnknownCameraType,
    camera_kind,
    register_camera_kind,
)
from edge.vision.config import VisionConfigError, VisionFile, build_pipelines, load_vision_config, make_detector
from edge.vision.decoders import DECODERS, DecodeError, decode_yolov5, decode_yolov8, detect_layout
from edge.vision.detector import (
    DEFAULT_MODEL,
    DETECTORS,
    Detection,
    Detector,
    DetectorError,
    OnnxDetector,
    register_detector,
)
from edge.vision.lift import LiftCommand, LiftController, SimulatedLift
from edge.vision.motion import MotionGate
from edge.vision.pipeline import CameraDevice, CameraPipeline, VisionDraft
from edge.vision.rules import VisionRule, VisionVerdict
from edge.vision.snapshot import render_snapshot
from edge.vision.sources import SOURCE_SCHEMES, CameraSource, Frame, SourceError, VideoCaptureSource, open_source
from edge.vision.tracker import SortTracker, Track
from edge.vision.types import EbikeInLiftRule, FireLaneRule
from edge.vision.zones import Zone

__all__ = [
    "CAMERA_KINDS",
    "DECODERS",
    "DEFAULT_MODEL",
    "DETECTORS",
    "SOURCE_SCHEMES",
    "CameraDevice",
    "CameraKind",
    "CameraPipeline",
    "CameraSetup",
    "CameraSource",
    "DecodeError",
    "Detection",
    "Detector",
    "DetectorError",
    "EbikeInLiftRule",
    "FireLaneRule",
    "Frame",
    "LiftCommand",
    "LiftController",
    "MotionGate",
    "OnnxDetector",
    "SimulatedLift",
    "SortTracker",
    "SourceError",
    "Track",
    "UnknownCameraType",
    "VideoCaptureSource",
    "VisionConfigError",
    "VisionDraft",
    "VisionFile",
    "VisionRule",
    "VisionVerdict",
    "Zone",
    "build_pipelines",
    "camera_kind",
    "decode_yolov5",
    "decode_yolov8",
    "detect_layout",
    "load_vision_config",
    "make_detector",
    "open_source",
    "register_camera_kind",
    "register_detector",
    "render_snapshot",
]
