"""Post-processing per output layout: raw ONNX output -> boxes in input pixels, scores, class ids.

Layouts (registry keyed by name, chosen in config or detected from the output shape):

- ``yolov8``: ``[1, 4 + nc, N]``, rows cx, cy, w, h then one score per class (YOLOv8/11 exports,
  and the shipped CenterNet-style model, which ends in the same layout);
- ``yolov5``: ``[1, N, 5 + nc]``, columns cx, cy, w, h, objectness, then class probabilities
  (score = objectness x class probability).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float32]


class DecodeError(ValueError):
    """The model output does not have the shape the layout expects."""


@dataclass(frozen=True, slots=True)
class Decoded:
    """Candidate boxes (x1, y1, x2, y2 in model-input pixels), scores and class ids, before NMS."""

    boxes: FloatArray
    scores: FloatArray
    classes: NDArray[np.int64]

    @classmethod
    def empty(cls) -> Decoded:
        """No candidates."""
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))


def _xywh_to_xyxy(b: FloatArray) -> FloatArray:
    out = np.empty_like(b)
    out[:, 0] = b[:, 0] - b[:, 2] / 2
    out[:, 1] = b[:, 1] - b[:, 3] / 2
    out[:, 2] = b[:, 0] + b[:, 2] / 2
    out[:, 3] = b[:, 1] + b[:, 3] / 2
    return out


def decode_yolov8(output: FloatArray, num_classes: int, conf: float) -> Decoded:
    """Decode ``[1, 4 + nc, N]`` (boxes as cx, cy, w, h; per-class scores, no objectness)."""
    if output.ndim != 3 or output.shape[0] != 1 or output.shape[1] != 4 + num_classes:
        raise DecodeError(f"yolov8 layout expects [1, {4 + num_classes}, N], got {list(output.shape)}")
    rows = output[0]
    scores_all = rows[4:]
    classes = scores_all.argmax(axis=0)
    scores = scores_all[classes, np.arange(rows.shape[1])]
    keep = scores >= conf
    if not keep.any():
        return Decoded.empty()
    boxes = _xywh_to_xyxy(rows[:4, keep].T.astype(np.float32))
    return Decoded(boxes, scores[keep].astype(np.float32), classes[keep].astype(np.int64))


def decode_yolov5(output: FloatArray, num_classes: int, conf: float) -> Decoded:
    """Decode ``[1, N, 5 + nc]`` (cx, cy, w, h, objectness, class probabilities)."""
    if output.ndim != 3 or output.shape[0] != 1 or output.shape[2] != 5 + num_classes:
        raise DecodeError(f"yolov5 layout expects [1, N, {5 + num_classes}], got {list(output.shape)}")
    rows = output[0]
    obj = rows[:, 4]
    cand = obj >= conf
    rows = rows[cand]
    if not len(rows):
        return Decoded.empty()
    cls_scores = rows[:, 5:] * rows[:, 4:5]
    classes = cls_scores.argmax(axis=1)
    scores = cls_scores[np.arange(len(rows)), classes]
    keep = scores >= conf
    boxes = _xywh_to_xyxy(rows[keep, :4].astype(np.float32))
    return Decoded(boxes, scores[keep].astype(np.float32), classes[keep].astype(np.int64))


Decoder = Callable[[FloatArray, int, float], Decoded]

DECODERS: dict[str, Decoder] = {"yolov8": decode_yolov8, "yolov5": decode_yolov5}
"""Output layouts the edge can decode, by name."""


def detect_layout(shape: tuple[int, ...] | list[int], num_classes: int) -> str:
    """Pick the layout from the output shape and the number of classes in the class map."""
    if len(shape) == 3:
        if shape[1] == 4 + num_classes and shape[2] != 4 + num_classes:
            return "yolov8"
        if shape[2] == 5 + num_classes:
            return "yolov5"
        if shape[1] == 4 + num_classes:
            return "yolov8"
    raise DecodeError(f"cannot tell the layout of output {list(shape)} for {num_classes} classes")


def nms(decoded: Decoded, iou: float, max_det: int = 100) -> Decoded:
    """Class-aware non-maximum suppression (OpenCV's batched NMS); keep at most ``max_det``."""
    if not len(decoded.scores):
        return decoded
    b = decoded.boxes
    xywh = np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)
    kept = cv2.dnn.NMSBoxesBatched(
        xywh.tolist(), decoded.scores.tolist(), decoded.classes.tolist(), 0.0, iou, top_k=max_det
    )
    idx = np.asarray(kept, dtype=np.int64).reshape(-1)[:max_det]
    return Decoded(decoded.boxes[idx], decoded.scores[idx], decoded.classes[idx])
