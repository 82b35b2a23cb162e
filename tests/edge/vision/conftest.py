"""Fixtures for the vision tests: the shipped detector and the sample vision config."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.vision import DEFAULT_MODEL, OnnxDetector, load_vision_config
from edge.vision.config import VisionFile

CONFIGS = Path(__file__).resolve().parents[3] / "configs"


@pytest.fixture(scope="session")
def detector() -> OnnxDetector:
    """The committed ONNX detector at the sample config's operating settings."""
    vision = load_vision_config(CONFIGS / "vision.yaml")
    return OnnxDetector(DEFAULT_MODEL, conf=vision.model.conf, iou=vision.model.iou, threads=1)


@pytest.fixture(scope="session")
def vision() -> VisionFile:
    """The sample ``configs/vision.yaml``."""
    return load_vision_config(CONFIGS / "vision.yaml")
