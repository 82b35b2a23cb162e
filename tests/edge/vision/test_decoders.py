"""Tests of the YOLO-family output decoders through real ONNX graphs built here and run by onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge.vision import DecodeError, DetectorError, OnnxDetector, decode_yolov5, decode_yolov8, detect_layout

NAMES = ["person", "ebike", "bicycle"]
SIZE = 64
# cx, cy, w, h (input px), class, score
OBJECTS = [(20.0, 24.0, 16.0, 20.0, 1, 0.9), (44.0, 40.0, 12.0, 14.0, 0, 0.8), (21.0, 25.0, 15.0, 19.0, 1, 0.6)]


def _constant_model(path: Path, output: np.ndarray) -> Path:
    """An ONNX model whose output is ``output`` (plus 0 x mean(input), so the input is really used)."""
    const = numpy_helper.from_array(output.astype(np.float32), "raw")
    zero = numpy_helper.from_array(np.zeros((), np.float32), "zero")
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["raw", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes, "constant-detector",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output.shape))],
        initializer=[const, zero],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def yolov8_output(n: int = 50) -> np.ndarray:
    """[1, 4 + nc, N] with the objects in the first columns and low-score noise elsewhere."""
    rng = np.random.default_rng(0)
    out = np.zeros((1, 4 + len(NAMES), n), np.float32)
    out[0, :4] = rng.uniform(5, 60, size=(4, n))
    out[0, 4:] = rng.uniform(0, 0.1, size=(len(NAMES), n))
    for i, (cx, cy, w, h, c, s) in enumerate(OBJECTS):
        out[0, :4, i] = (cx, cy, w, h)
        out[0, 4:, i] = 0.01
        out[0, 4 + c, i] = s
    return out


def yolov5_output(v8: np.ndarray) -> np.ndarray:
    """The same candidates in [1, N, 5 + nc] with objectness = best score and class probs normalized."""
    rows = v8[0].T
    scores = rows[:, 4:]
    obj = scores.max(axis=1, keepdims=True)
    probs = scores / np.maximum(obj, 1e-9)
    return np.concatenate([rows[:, :4], obj, probs], axis=1)[None].astype(np.float32)


def test_yolov8_and_yolov5_layouts_decode_to_the_same_boxes(tmp_path: Path) -> None:
    """Test that a YOLOv8-layout and a YOLOv5-layout ONNX model give the same detections after NMS."""
    v8 = yolov8_output()
    v8_path = _constant_model(tmp_path / "v8.onnx", v8)
    v5_path = _constant_model(tmp_path / "v5.onnx", yolov5_output(v8))
    frame = np.zeros((SIZE, SIZE, 3), np.uint8)
    a = OnnxDetector(v8_path, class_names=NAMES, conf=0.3)
    b = OnnxDetector(v5_path, class_names=NAMES, conf=0.3)
    assert (a.layout, b.layout) == ("yolov8", "yolov5")
    da, db = a.detect(frame), b.detect(frame)
    assert len(da) == 2, "the overlapping lower-score e-bike must be suppressed"
    assert [d.cls for d in da] == [d.cls for d in db] == ["ebike", "person"]
    for x, y in zip(da, db, strict=True):
        assert x.score == pytest.approx(y.score, abs=1e-5)
        assert x.box == pytest.approx(y.box, abs=1e-5)
    cx, cy, w, h = OBJECTS[0][:4]
    assert da[0].box == pytest.approx(((cx - w / 2) / SIZE, (cy - h / 2) / SIZE, (cx + w / 2) / SIZE,
                                       (cy + h / 2) / SIZE), abs=1e-5)


def test_boxes_map_back_through_the_letterbox(tmp_path: Path) -> None:
    """Test that boxes are normalized to the original (non-square) frame, undoing the letterbox padding."""
    det = OnnxDetector(_constant_model(tmp_path / "v8.onnx", yolov8_output()), class_names=NAMES, conf=0.3)
    frame = np.zeros((48, 64, 3), np.uint8)  # 4:3 -> scale 1, padded 8 px top and bottom
    cx, cy, w, h = OBJECTS[0][:4]
    box = det.detect(frame)[0].box
    assert box == pytest.approx(((cx - w / 2) / 64, (cy - h / 2 - 8) / 48, (cx + w / 2) / 64, (cy + h / 2 - 8) / 48))


def test_class_map_renames_model_classes(tmp_path: Path) -> None:
    """Test that the config's class map turns e.g. a COCO 'motorcycle' into our 'ebike'."""
    path = _constant_model(tmp_path / "v8.onnx", yolov8_output())
    det = OnnxDetector(path, class_names=["person", "motorcycle", "bicycle"], class_map={"motorcycle": "ebike"})
    assert {d.cls for d in det.detect(np.zeros((SIZE, SIZE, 3), np.uint8))} == {"ebike", "person"}


def test_layout_detection_and_shape_errors() -> None:
    """Test that layouts are told apart by shape and wrong shapes raise DecodeError."""
    assert detect_layout([1, 7, 2100], 3) == "yolov8"
    assert detect_layout([1, 2100, 8], 3) == "yolov5"
    with pytest.raises(DecodeError):
        detect_layout([1, 9, 9], 3)
    with pytest.raises(DecodeError, match="yolov8"):
        decode_yolov8(np.zeros((1, 6, 10), np.float32), 3, 0.5)
    with pytest.raises(DecodeError, match="yolov5"):
        decode_yolov5(np.zeros((1, 10, 7), np.float32), 3, 0.5)


def test_bad_model_files_raise_detector_error(tmp_path: Path) -> None:
    """Test that a missing or corrupt model file gives a DetectorError naming it."""
    with pytest.raises(DetectorError, match="does not exist"):
        OnnxDetector(tmp_path / "missing.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(DetectorError, match="cannot load"):
        OnnxDetector(bad)
    path = _constant_model(tmp_path / "v8.onnx", yolov8_output())
    with pytest.raises(DetectorError, match="no class names"):
        OnnxDetector(path)
