"""Real photographs as hard negatives (issue 13, item 2): the held-out set stays out of training, its labels fit its
photos, the lens randomisation moves boxes with the pixels, and the shipped model says no on the held-out photos.

The photographs are not ours: scikit-image's sample data (a dependency) and, where Debian's ``opencv-doc`` is
installed, OpenCV's samples. The boxes of the people in the held-out portraits were drawn by hand
(``models/real_photos_heldout.json``).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.vision import DEFAULT_MODEL, OnnxDetector
from models import photos
from simulators.camera import CLASS_NAMES

ALARM_SCORE = 0.5
"""The lift rule's e-bike score (configs/vision.yaml ``lift.min_score``)."""


def test_the_heldout_photos_never_enter_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test that no held-out photograph is a training photograph, split by file, and that listing one for
    training is refused by name."""
    train = {f"{p}/{f}" for p, files in photos.TRAIN_PHOTOS.items() for f in files}
    assert train.isdisjoint(photos.HELDOUT)
    assert set(photos.training_photos()) <= train
    monkeypatch.setitem(photos.TRAIN_PHOTOS, "skimage", (*photos.TRAIN_PHOTOS["skimage"], "astronaut.png"))
    with pytest.raises(ValueError, match=r"skimage/astronaut\.png"):
        photos.training_photos()


def test_the_heldout_set_is_written_as_a_yolo_directory_with_its_hand_drawn_people(tmp_path: Path) -> None:
    """Test that every installed held-out photo is written with its person boxes, each inside the photo, and that
    the scikit-image portraits (astronaut, cameraman) are there with one person each."""
    root = photos.write_heldout_dir(tmp_path / "real", list(CLASS_NAMES))
    found = photos.locate(list(photos.HELDOUT))
    assert {"skimage/astronaut.png", "skimage/camera.png", "skimage/motorcycle_left.png"} <= set(found)
    labels = photos.heldout_labels()
    for name, path in found.items():
        image = cv2.imread(str(path))
        h, w = image.shape[:2]
        for x1, y1, x2, y2 in labels[name]:
            assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h, name
        stem = name.replace("/", "__").rsplit(".", 1)[0]
        rows = (root / "labels" / "test" / f"{stem}.txt").read_text().split()
        assert len(rows) == 5 * len(labels[name]) and (root / "images" / "test" / f"{stem}.png").is_file()
    assert len(labels["skimage/astronaut.png"]) == len(labels["skimage/camera.png"]) == 1
    assert (root / "classes.txt").read_text().split() == list(CLASS_NAMES)


@pytest.mark.parametrize("k", [-0.25, 0.15])
def test_lens_distortion_moves_each_box_with_its_pixels(k: float) -> None:
    """Test that the radial distortion's box (from points along the box edges) bounds the distorted white
    rectangle within 2 px, for barrel and pincushion."""
    img = np.zeros((192, 192, 3), np.uint8)
    boxes = np.array([[10, 20, 60, 90], [120, 130, 180, 185], [80, 80, 110, 100]], np.float32)
    for x1, y1, x2, y2 in boxes.astype(int):
        img[y1:y2, x1:x2] = 255
    out, moved = photos.radial_distortion(img, boxes, k)
    labels, ids = cv2.connectedComponents((out[..., 0] > 127).astype(np.uint8))
    assert labels == 1 + len(boxes)
    for box in moved:
        cx, cy = int((box[0] + box[2]) / 2), int((box[1] + box[3]) / 2)
        ys, xs = np.nonzero(ids == ids[cy, cx])
        truth = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)
        np.testing.assert_allclose(box, truth, atol=2.0)


def test_randomisation_keeps_labels_consistent() -> None:
    """Test that the training randomisation returns 192x192 images with one class per box, boxes inside the image,
    and some whole real photographs with no box at all."""
    pool = photos.PhotoPool()
    rng = np.random.default_rng(0)
    img = np.full((192, 192, 3), 100, np.uint8)
    empty = 0
    for _ in range(60):
        classes = np.array([1, 0], np.int64)
        xyxy = np.array([[20, 30, 90, 150], [100, 40, 150, 170]], np.float32)
        out, c, b = photos.randomise(img.copy(), classes, xyxy, rng, pool)
        assert out.shape == (192, 192, 3) and out.dtype == np.uint8 and len(c) == len(b)
        assert ((b >= 0) & (b <= 192)).all()
        empty += len(c) == 0
    assert empty >= 2


@pytest.mark.skipif(len(photos.locate(list(photos.HELDOUT))) < 10, reason="needs scikit-image's sample photographs")
def test_the_shipped_model_reports_no_ebike_on_the_heldout_real_photos() -> None:
    """Test that the shipped detector, trained with real photographs as hard negatives, reports no e-bike at the
    lift's alarm score on any held-out real photograph (none holds an e-bike)."""
    det = OnnxDetector(DEFAULT_MODEL, conf=0.05, threads=1)
    scores = {
        name: max((d.score for d in det.detect(cv2.imread(str(path))) if d.cls == "ebike"), default=0.0)
        for name, path in photos.locate(list(photos.HELDOUT)).items()
    }
    assert max(scores.values()) < ALARM_SCORE, scores
