"""Tests of the committed ONNX detector: size, metadata, and that it finds an e-bike in a rendered frame."""

from __future__ import annotations

import json

import numpy as np
import onnx

from edge.vision import DEFAULT_MODEL, OnnxDetector
from simulators.camera import CLASS_NAMES, build


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_shipped_model_is_small_and_names_its_classes() -> None:
    """Test that the committed model is <= 10 MB, <= 2 M parameters and carries the class names."""
    assert DEFAULT_MODEL.stat().st_size <= 10 * 1024 * 1024
    model = onnx.load(str(DEFAULT_MODEL))
    params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    assert params <= 2_000_000
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["names"]) == list(CLASS_NAMES)


def test_model_detects_the_ebike_in_a_rendered_lift_frame(detector: OnnxDetector) -> None:
    """Test that the ONNX model loads and finds the e-bike of a held-out lift frame where the labels say it is."""
    assert detector.layout == "yolov8"
    scenario = build("lift-ebike", seed=4, split="heldout")
    frame = scenario.frame(25.0)
    truth = [b for b in frame.boxes if b.cls == "ebike"]
    assert len(truth) == 1
    h, w = frame.image.shape[:2]
    t = truth[0]
    box = (t.x1 / w, t.y1 / h, t.x2 / w, t.y2 / h)
    found = [d for d in detector.detect(frame.image) if d.cls == "ebike"]
    assert found, "no e-bike detected"
    assert max(_iou(d.box, box) for d in found) >= 0.5
