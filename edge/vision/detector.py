"""Detectors: the fixed output (normalized box, class, score) whatever the model, and the ONNX runtime one.

``DETECTORS`` maps the ``type`` of ``model:`` in vision.yaml to a factory ``factory(model_config) -> Detector``
(``onnx``, the default, is ``OnnxDetector``); another implementation registers itself with
``register_detector(type, factory)`` from its module (a plugin: ``compound --plugin MODULE``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from edge.vision.decoders import DECODERS, DecodeError, detect_layout, nms

if TYPE_CHECKING:
    from edge.vision.config import ModelConfig

log = logging.getLogger(__name__)

DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "models" / "compound_det.onnx"
"""The shipped detector (trained on simulator renders; see models/MODEL_CARD.md)."""


class DetectorError(ValueError):
    """The model cannot be loaded or run; ``path`` names it (a configuration error: the edge exits with it)."""

    def __init__(self, path: Path | str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = str(path)


@dataclass(frozen=True, slots=True)
class Detection:
    """One detected object: class name, score and box normalized to the frame (x1, y1, x2, y2)."""

    cls: str
    score: float
    box: tuple[float, float, float, float]

    @property
    def centre(self) -> tuple[float, float]:
        """Box centre, normalized."""
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2

    @property
    def foot(self) -> tuple[float, float]:
        """Bottom centre (ground contact), normalized: what zones test."""
        return (self.box[0] + self.box[2]) / 2, self.box[3]


class Detector(Protocol):
    """Anything that finds objects in a BGR frame."""

    @property
    def class_names(self) -> Sequence[str]:
        """Class names, in model order, after the config's class map."""
        ...

    def detect(self, image: NDArray[np.uint8]) -> list[Detection]:
        """Detections in ``image`` (BGR, HxWx3), boxes normalized to it."""
        ...


DetectorFactory = Callable[["ModelConfig"], Detector]
"""Builds a detector from the ``model:`` section of vision.yaml."""

DETECTORS: dict[str, DetectorFactory] = {}
"""Detector implementations by the ``type`` of ``model:`` in vision.yaml."""


def register_detector(type_: str, factory: DetectorFactory) -> None:
    """Register a detector factory under ``type_`` (replacing any previous one)."""
    DETECTORS[type_] = factory


def letterbox(image: NDArray[np.uint8], width: int, height: int) -> tuple[NDArray[np.uint8], float, int, int]:
    """Resize keeping aspect ratio into width x height padded with grey; return image, scale, pad x, pad y."""
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    nw, nh = round(w * scale), round(h * scale)
    out = np.full((height, width, 3), 114, np.uint8)
    px, py = (width - nw) // 2, (height - nh) // 2
    out[py : py + nh, px : px + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    return out, scale, px, py


class OnnxDetector:
    """Run an ONNX detector with onnxruntime (CPU) and decode its output layout."""

    def __init__(
        self,
        path: Path | str = DEFAULT_MODEL,
        *,
        class_names: Sequence[str] | None = None,
        layout: str = "auto",
        conf: float = 0.35,
        iou: float = 0.5,
        threads: int = 1,
        max_det: int = 100,
        class_map: dict[str, str] | None = None,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DetectorError(self.path, "model file does not exist")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise DetectorError(self.path, f"onnxruntime cannot load it: {exc}") from exc
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        shape = inp.shape
        if len(shape) != 4 or not all(isinstance(d, int) for d in shape[2:]):
            raise DetectorError(self.path, f"input {inp.name} must be [1, 3, H, W] with fixed H, W, got {shape}")
        self.input_h, self.input_w = int(shape[2]), int(shape[3])
        meta = self.session.get_modelmeta().custom_metadata_map
        names = list(class_names) if class_names else _names_from_metadata(meta)
        if not names:
            raise DetectorError(self.path, "no class names: give class_names in config (model has no 'names')")
        self._names: list[str] = [(class_map or {}).get(n, n) for n in names]
        out_shape = self.session.get_outputs()[0].shape
        if layout == "auto":
            static = [d if isinstance(d, int) else -1 for d in out_shape]
            try:
                layout = detect_layout(static, len(names))
            except DecodeError as exc:
                raise DetectorError(self.path, str(exc)) from exc
        if layout not in DECODERS:
            raise DetectorError(self.path, f"unknown output layout {layout!r}; known: {sorted(DECODERS)}")
        self.layout = layout
        self._decode = DECODERS[layout]
        self.conf, self.iou, self.max_det = conf, iou, max_det

    @property
    def class_names(self) -> list[str]:
        """Class names in model order, after the class map."""
        return self._names

    def preprocess(self, image: NDArray[np.uint8]) -> tuple[NDArray[np.float32], float, int, int]:
        """Letterbox, BGR -> RGB, scale to 0..1, NCHW."""
        boxed, scale, px, py = letterbox(image, self.input_w, self.input_h)
        x = boxed[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) * (1.0 / 255.0)
        return np.ascontiguousarray(x), scale, px, py

    def detect(self, image: NDArray[np.uint8]) -> list[Detection]:
        """Detections in a BGR frame, boxes normalized to the frame and clipped to it."""
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 BGR frame, got shape {image.shape}")
        x, scale, px, py = self.preprocess(image)
        output = self.session.run(None, {self.input_name: x})[0]
        decoded = nms(
            self._decode(np.asarray(output, np.float32), len(self.class_names), self.conf), self.iou, self.max_det
        )
        h, w = image.shape[:2]
        out = []
        for (x1, y1, x2, y2), score, cls in zip(decoded.boxes, decoded.scores, decoded.classes, strict=True):
            bx1 = min(max((x1 - px) / scale / w, 0.0), 1.0)
            by1 = min(max((y1 - py) / scale / h, 0.0), 1.0)
            bx2 = min(max((x2 - px) / scale / w, 0.0), 1.0)
            by2 = min(max((y2 - py) / scale / h, 0.0), 1.0)
            if bx2 <= bx1 or by2 <= by1:
                continue
            out.append(Detection(self.class_names[int(cls)], float(score), (bx1, by1, bx2, by2)))
        return out


def _names_from_metadata(meta: dict[str, str]) -> list[str]:
    raw = meta.get("names")
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        # ultralytics writes a Python dict literal {0: 'person', ...}
        import ast

        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            return []
    if isinstance(value, dict):
        return [str(value[k]) for k in sorted(value, key=int)]
    return [str(v) for v in value]


def onnx_detector(model: ModelConfig) -> OnnxDetector:
    """``DetectorFactory`` of ``onnx``: the ONNX file, layout, classes and thresholds of the config."""
    return OnnxDetector(
        model.resolved_path(),
        class_names=model.classes,
        layout=model.layout,
        conf=model.conf,
        iou=model.iou,
        threads=model.threads,
        class_map=model.class_map,
    )


register_detector("onnx", onnx_detector)
