"""The learning loop's command lines: fine-tune from the shipped ONNX on a YOLO directory, resume, export, and compare.

``python -m models.train --data DIR --from models/compound_det.onnx`` and ``python -m models.evaluate --data DIR
--model NEW --baseline models/compound_det.onnx`` on a tiny YOLO directory of our renders, laid out as a labelling
tool exports it (``images/train``, ``images/val``, ``classes.txt``), with three of the model's classes in another
order, as the console's marked snapshots would be.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge.vision import DEFAULT_MODEL, OnnxDetector
from simulators.camera import CLASS_NAMES

torch = pytest.importorskip("torch", reason="training needs the 'train' extra")

DATA_CLASSES = ("ebike", "person", "bicycle")
"""The marked dataset's classes: a subset of the model's, in another order."""


def make_yolo_dir(root: Path, train: int = 16, val: int = 8, seed: int = 77) -> Path:
    """Render ``train + val`` frames and lay them out as a YOLO export with ``DATA_CLASSES``."""
    from models.dataset import RenderSpec, read_yolo_dir, render_dataset

    rendered = render_dataset(RenderSpec(count=train + val, seed=seed), root / "render", workers=1)
    for i, item in enumerate(read_yolo_dir(rendered)):
        split = "train" if i < train else "val"
        (root / "data" / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "data" / "labels" / split).mkdir(parents=True, exist_ok=True)
        shutil.copy(item.image, root / "data" / "images" / split / item.image.name)
        lines = [
            f"{DATA_CLASSES.index(CLASS_NAMES[c])} {' '.join(f'{v:.6f}' for v in box)}"
            for c, box in zip(item.classes, item.boxes, strict=True)
            if CLASS_NAMES[c] in DATA_CLASSES
        ]
        (root / "data" / "labels" / split / f"{item.image.stem}.txt").write_text("".join(f"{ln}\n" for ln in lines))
    (root / "data" / "classes.txt").write_text("\n".join(DATA_CLASSES) + "\n")
    return root / "data"


@pytest.fixture(scope="module")
def yolo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny YOLO directory: 16 training and 8 held-out frames, classes ebike, person, bicycle."""
    return make_yolo_dir(tmp_path_factory.mktemp("yolo"))


def _weights(path: Path) -> dict[str, torch.Tensor]:
    state = torch.load(path, map_location="cpu", weights_only=False)
    return {k: v for k, v in state["state_dict"].items() if "num_batches" not in k}


@pytest.mark.slow
def test_the_shipped_onnx_loads_back_into_the_network_unchanged(tmp_path: Path) -> None:
    """Test that the shipped ONNX's weights, loaded into ``models/net.py``'s network (and its BatchNorms given the
    statistics of real images), export to an ONNX that computes what the shipped one does."""
    import onnxruntime as ort

    from models.export import export_onnx
    from models.weights import load_start, recalibrate

    start = load_start(DEFAULT_MODEL)
    assert start.folded and start.names == list(CLASS_NAMES)
    x = torch.rand(4, 3, 192, 192, generator=torch.Generator().manual_seed(0))
    recalibrate(start.net, x)
    out = export_onnx(start.net, start.names, tmp_path / "roundtrip.onnx", size=192)

    def run(path: Path) -> np.ndarray:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return np.asarray(session.run(None, {"images": x[:1].numpy()})[0])

    np.testing.assert_allclose(run(out), run(DEFAULT_MODEL), atol=1e-3)


def test_a_start_that_is_neither_checkpoint_nor_onnx_is_refused(tmp_path: Path) -> None:
    """Test that ``--from`` names what it cannot use: a missing file, another suffix, an ONNX without class names."""
    import onnx

    from models.weights import load_start

    with pytest.raises(FileNotFoundError, match="no model file"):
        load_start(tmp_path / "missing.onnx")
    (tmp_path / "model.tflite").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"\.pt checkpoint or an \.onnx"):
        load_start(tmp_path / "model.tflite")
    bare = onnx.load(str(DEFAULT_MODEL))
    del bare.metadata_props[:]
    onnx.save(bare, str(tmp_path / "bare.onnx"))
    with pytest.raises(ValueError, match="no class names"):
        load_start(tmp_path / "bare.onnx")


@pytest.mark.slow
def test_fine_tune_from_the_onnx_resumes_where_it_stopped(yolo_dir: Path, tmp_path: Path) -> None:
    """Test that ``--from`` the shipped ONNX trains on the directory's ``train`` split, that a run stopped after two
    steps and continued with ``--resume`` ends with the weights of an uninterrupted run, and that the exported
    model keeps all twelve of the shipped model's classes."""
    from models.train import main

    common = ["--data", str(yolo_dir), "--from", str(DEFAULT_MODEL), "--epochs", "2", "--batch", "8",
              "--threads", "1", "--minutes", "30", "--lr", "1e-3", "--save-every", "1"]  # fmt: skip
    whole, part = tmp_path / "whole.pt", tmp_path / "part.pt"
    assert main([*common, "--checkpoint", str(whole), "--out", str(tmp_path / "whole.onnx")]) == 0
    assert main([*common, "--checkpoint", str(part), "--out", str(tmp_path / "half.onnx"), "--max-steps", "2"]) == 0
    assert torch.load(part, weights_only=False)["step"] == 2
    assert main([*common, "--checkpoint", str(part), "--out", str(tmp_path / "resumed.onnx"), "--resume"]) == 0
    state = torch.load(part, weights_only=False)
    assert (state["step"], state["names"]) == (4, list(CLASS_NAMES))  # 16 images / batch 8 x 2 epochs
    a, b = _weights(whole), _weights(part)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)
    det = OnnxDetector(tmp_path / "resumed.onnx", conf=0.01)
    assert det.class_names == list(CLASS_NAMES)


@pytest.mark.slow
def test_evaluate_compares_the_new_model_with_the_baseline(
    yolo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Test that ``models.evaluate --data`` scores both models on the held-out ``val`` split: AP50 of the data's
    classes, e-bike false detections at the alarm score and person recall, as a table and as JSON."""
    from models.evaluate import main as evaluate
    from models.train import main as train

    new = tmp_path / "new.onnx"
    args = ["--data", str(yolo_dir), "--from", str(DEFAULT_MODEL), "--epochs", "1", "--batch", "8", "--threads", "1",
            "--lr", "1e-4", "--checkpoint", str(tmp_path / "ck.pt"), "--out", str(new)]  # fmt: skip
    assert train(args) == 0
    capsys.readouterr()
    assert evaluate(["--data", str(yolo_dir), "--model", str(new), "--baseline", str(DEFAULT_MODEL), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["split"], result["classes"], list(result["models"])) == ("val", list(DATA_CLASSES),
                                                                             ["baseline", "new"])  # fmt: skip
    for label, path in (("baseline", DEFAULT_MODEL), ("new", new)):
        m = result["models"][label]
        assert m["path"] == str(path) and m["images"] == 8
        assert set(m["ap50"]) <= set(DATA_CLASSES) and m["ap50"], m["ap50"]
        assert all(0.0 <= v <= 1.0 for v in m["ap50"].values())
        assert m["operating_threshold"] == 0.5 and m["ebike_false_at_alarm"] >= 0
        assert m["person_recall"] is None or 0.0 <= m["person_recall"] <= 1.0
    # the shipped model on our own renders: it finds the e-bikes
    assert result["models"]["baseline"]["ap50"].get("ebike", 1.0) >= 0.5
    assert evaluate(["--data", str(yolo_dir), "--model", str(new)]) == 0
    table = capsys.readouterr().out
    for row in ("baseline", "new", "AP50 ebike", "e-bike false detections @0.5", "person recall @0.5"):
        assert row in table, table


def test_bad_directories_and_unknown_classes_are_named(tmp_path: Path) -> None:
    """Test that a missing or empty directory, a directory without a held-out split and a class the model lacks
    each stop ``models.train`` and ``models.evaluate`` with a message that says so."""
    from models.evaluate import main as evaluate
    from models.train import main as train

    with pytest.raises(SystemExit):
        train(["--data", str(tmp_path / "nowhere"), "--from", str(DEFAULT_MODEL)])
    with pytest.raises(SystemExit, match="no dataset directory"):
        evaluate(["--data", str(tmp_path / "nowhere")])
    empty = tmp_path / "empty"
    (empty / "images" / "val").mkdir(parents=True)
    with pytest.raises(SystemExit, match="no images"):
        evaluate(["--data", str(empty)])
    (empty / "images" / "val").rmdir()
    with pytest.raises(SystemExit, match="no held-out split"):
        evaluate(["--data", str(empty)])
    odd = tmp_path / "odd"
    for split in ("train", "val"):
        (odd / "images" / split).mkdir(parents=True)
        (odd / "labels" / split).mkdir(parents=True)
        img = np.full((48, 64, 3), 90, np.uint8)
        import cv2

        cv2.imwrite(str(odd / "images" / split / "a.jpg"), img)
        (odd / "labels" / split / "a.txt").write_text("1 0.5 0.5 0.2 0.2\n")
    (odd / "classes.txt").write_text("ebike\nunicorn\n")
    with pytest.raises(SystemExit, match="unicorn"):
        train(["--data", str(odd), "--from", str(DEFAULT_MODEL), "--checkpoint", str(tmp_path / "ck.pt")])
    with pytest.raises(SystemExit, match="unicorn"):
        evaluate(["--data", str(odd)])
