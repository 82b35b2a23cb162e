"""Export a trained ``CenterNetLite`` to ONNX in the YOLOv8 output layout, with class names in metadata."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import onnx
import torch

from models.net import CenterNetLite, ExportHead

log = logging.getLogger(__name__)


def export_onnx(net: CenterNetLite, names: Sequence[str], out: Path, size: int) -> Path:
    """Write ``out``: input ``images`` [1, 3, size, size] RGB 0..1, output ``output0`` [1, 4 + nc, N]."""
    head = ExportHead(net.eval()).eval()
    dummy = torch.zeros(1, 3, size, size)
    out.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        # torch's own pytree deprecation inside the exporter; not ours to fix
        warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
        program = torch.onnx.export(head, (dummy,), dynamo=True, input_names=["images"], output_names=["output0"],
                                    opset_version=18, optimize=True, verbose=False)
    if program is None:
        raise RuntimeError("torch.onnx.export returned no program")
    program.save(str(out), external_data=False)
    model = onnx.load(str(out))
    meta = {"names": json.dumps(list(names)), "layout": "yolov8", "imgsz": str(size), "producer": "compound-safety"}
    for key, value in meta.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    return out
