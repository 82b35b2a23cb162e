"""Edge vision: camera sources, ONNX detector + YOLO decoders, motion gate, tracker, zones, rules, lift control."""

from edge.vision.config import VisionConfigError, VisionFile, build_pipelines, load_vision_config, make_detector
from edge.vision.decoders import DECODERS, DecodeError, decode_yolov5, decode_yolov8, detect_layout
from edge.vision.detector import DEFAULT_MODEL, DETECTORS, Detection, Detector, DetectorError, OnnxDetector
from edge.vision.lift import LiftCommand, LiftController, SimulatedLift
from edge.vision.motion import MotionGate
from edge.vision.pipeline import CameraDevice, CameraPipeline, VisionDraft
from edge.vision.rules import EbikeInLiftRule, FireLaneRule, VisionRule, VisionVerdict
from edge.vision.snapshot import render_snapshot
from edge.vision.sources import (
    SOURCE_SCHEMES,
    CameraSource,
    Frame,
    SimulatedCamera,
    SourceError,
    VideoCaptureSource,
    open_source,
)
from edge.vision.tracker import SortTracker, Track
from edge.vision.zones import Zone

__all__ = [
    "DECODERS",
    "DEFAULT_MODEL",
    "DETECTORS",
    "SOURCE_SCHEMES",
    "CameraDevice",
    "CameraPipeline",
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
    "SimulatedCamera",
    "SimulatedLift",
    "SortTracker",
    "SourceError",
    "Track",
    "VideoCaptureSource",
    "VisionConfigError",
    "VisionDraft",
    "VisionFile",
    "VisionRule",
    "VisionVerdict",
    "Zone",
    "build_pipelines",
    "decode_yolov5",
    "decode_yolov8",
    "detect_layout",
    "load_vision_config",
    "make_detector",
    "open_source",
    "render_snapshot",
]
