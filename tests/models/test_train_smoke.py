"""Smoke test of the training code: render a tiny set, train one epoch, export ONNX, run it on the edge."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.vision import OnnxDetector
from simulators.camera import CLASS_NAMES

pytest.importorskip("torch", reason="training needs the 'train' extra")


@pytest.mark.slow
def test_one_epoch_on_a_tiny_rendered_set_exports_a_working_onnx(tmp_path: Path) -> None:
    """Test that render -> YOLO dir -> one training epoch -> ONNX export -> edge detector works end to end."""
    from models.dataset import RenderSpec, class_names_of, read_yolo_dir, render_dataset
    from models.export import export_onnx
    from models.train import train

    root = render_dataset(RenderSpec(count=24, seed=123), tmp_path / "data", workers=1)
    items = read_yolo_dir(root)
    assert len(items) == 24 and sum(len(i.classes) for i in items) > 0
    names = class_names_of(root)
    assert names == list(CLASS_NAMES)
    net = train(items, names, epochs=1, minutes=1.0, batch_size=8, threads=1)
    out = export_onnx(net, names, tmp_path / "smoke.onnx", size=192)
    det = OnnxDetector(out, conf=0.01)
    assert det.class_names == list(CLASS_NAMES) and det.layout == "yolov8"
    detections = det.detect(np.full((240, 320, 3), 100, np.uint8))
    assert all(0.0 <= d.score <= 1.0 and d.cls in CLASS_NAMES for d in detections)


@pytest.mark.slow
def test_training_writes_a_checkpoint_that_a_second_run_continues_from(tmp_path: Path) -> None:
    """Test that train() saves a checkpoint every N steps and that --init style continuation loads it."""
    import torch

    from models.dataset import RenderSpec, class_names_of, read_yolo_dir, render_dataset
    from models.train import train

    root = render_dataset(RenderSpec(count=16, seed=321), tmp_path / "data", workers=1)
    items, names = read_yolo_dir(root), class_names_of(root)
    ck = tmp_path / "last.pt"
    first = train(items, names, epochs=1, minutes=1.0, batch_size=8, threads=1, checkpoint=ck, save_every=1)
    state = torch.load(ck, map_location="cpu", weights_only=False)
    assert state["names"] == names and state["step"] == 2
    saved = {k: v for k, v in state["state_dict"].items()}
    assert all(torch.equal(saved[k], v) for k, v in first.state_dict().items())
    second = train(items, names, epochs=1, minutes=1.0, batch_size=8, lr=0.0, threads=1, init=ck)
    # lr 0 leaves the loaded weights as they were (BatchNorm running stats do move in train mode)
    weights = {k: v for k, v in second.state_dict().items() if "running" not in k and "num_batches" not in k}
    assert all(torch.equal(saved[k], v) for k, v in weights.items())
    with pytest.raises(ValueError, match="classes"):
        train(items, names[:-1], epochs=1, minutes=1.0, batch_size=8, threads=1, init=ck)
