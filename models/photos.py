"""Real photographs that packages ship: hard negatives for training, and a held-out set that never enters training.

Not ours: every photograph here was taken by someone else and ships in a package, scikit-image's sample data
(``skimage/data``, a dependency) and the OpenCV samples of Debian's ``opencv-doc`` (``apt-get install opencv-doc``;
``COMPOUND_OPENCV_SAMPLES`` points elsewhere). None holds an e-bike or a bicycle. Ours: the rendered scenes
(``simulators.camera``) they are pasted into.

- ``TRAIN_PHOTOS``: photographs used in training (textures, rooms, buildings, streets, a car, fruit, animals,
  text), none with a person in it, so pasting them as unlabelled content teaches no "no person" on a person.
- ``HELDOUT``: the held-out set, a fixed list of files (split by file, never by crop) in
  ``models/real_photos_heldout.json`` with hand-drawn person boxes. Training refuses any of them.

``randomise`` is the training-time randomisation that uses them: a whole photograph as an empty frame, a photograph
as the background behind the rendered objects, photo patches pasted as distractors, a faint photo overlay
(reflections), then photometric (colour, contrast, gamma, grey/IR, noise, blur, JPEG) and lens (radial distortion,
boxes mapped through it) randomisation.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

HERE = Path(__file__).resolve().parent
HELDOUT_FILE = HERE / "real_photos_heldout.json"

TRAIN_PHOTOS: dict[str, tuple[str, ...]] = {
    "skimage": ("brick.png", "grass.png", "gravel.png", "cell.png", "moon.png", "retina.jpg",
                "microaneurysms.png"),
    "opencv-doc": (
        "aero1.jpg", "aero3.jpg", "aloeL.jpg", "aloeR.jpg", "apple.jpg", "baboon.jpg", "board.jpg", "box.png",
        "box_in_scene.png", "building.jpg", "butterfly.jpg", "chicky_512.png", "ela_original.jpg", "fruits.jpg",
        "graf1.png", "graf3.png", "home.jpg", "imageTextN.png", "imageTextR.png", "left.jpg", "right.jpg",
        "leuvenA.jpg", "leuvenB.jpg", "licenseplate_motion.jpg", "orange.jpg", "rubberwhale1.png", "rubberwhale2.png",
        "smarties.png", "squirrel_cls.jpg", "stuff.jpg", "sudoku.png", "text_defocus.jpg", "text_motion.jpg",
    ),
}  # fmt: skip
"""Training photographs by package. Left out on purpose: photos with people (messi5, basketball, the chessboard
calibration shots held by a person), drawings, logos, synthetic patterns and renders."""


def source_dirs() -> dict[str, Path]:
    """Where each package's photographs are installed here (packages located, not imported); with
    ``COMPOUND_PHOTO_ROOT`` set, ``$COMPOUND_PHOTO_ROOT/<package>/`` (a copy taken to a training machine)."""
    if os.environ.get("COMPOUND_PHOTO_ROOT"):
        root = Path(os.environ["COMPOUND_PHOTO_ROOT"])
        return {"skimage": root / "skimage", "opencv-doc": root / "opencv-doc"}
    dirs: dict[str, Path] = {}
    spec = importlib.util.find_spec("skimage")
    if spec is not None and spec.origin is not None:
        dirs["skimage"] = Path(spec.origin).parent / "data"
    dirs["opencv-doc"] = Path(os.environ.get("COMPOUND_OPENCV_SAMPLES", "/usr/share/doc/opencv-doc/examples/data"))
    return dirs


def locate(names: list[str]) -> dict[str, Path]:
    """``package/file`` names -> paths, for those installed here."""
    dirs = source_dirs()
    found = {}
    for name in names:
        package, _, file = name.partition("/")
        if package in dirs and (dirs[package] / file).is_file():
            found[name] = dirs[package] / file
    return found


def heldout_labels() -> dict[str, list[tuple[float, float, float, float]]]:
    """The held-out photographs and their hand-drawn person boxes (pixels of the original file)."""
    photos = json.loads(HELDOUT_FILE.read_text())["photos"]
    return {name: [tuple(b) for b in labels.get("person", [])] for name, labels in photos.items()}


HELDOUT: tuple[str, ...] = tuple(heldout_labels())
"""The held-out real photographs, ``package/file``: never in training."""


def training_photos() -> dict[str, Path]:
    """The training photographs installed here; refuses any held-out one."""
    names = [f"{p}/{f}" for p, files in TRAIN_PHOTOS.items() for f in files]
    leaked = sorted(set(names) & set(HELDOUT))
    if leaked:
        raise ValueError(f"held-out photographs listed for training: {', '.join(leaked)}")
    return locate(names)


def write_heldout_dir(root: Path, class_names: list[str]) -> Path:
    """Write the installed held-out photographs as a YOLO directory (``images/test``, ``labels/test``,
    ``classes.txt``) with their person boxes, for ``models.evaluate``."""
    labels = heldout_labels()
    person = class_names.index("person")
    (root / "images" / "test").mkdir(parents=True, exist_ok=True)
    (root / "labels" / "test").mkdir(parents=True, exist_ok=True)
    for name, path in locate(list(labels)).items():
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"unreadable photograph {path}")
        stem = name.replace("/", "__").rsplit(".", 1)[0]
        cv2.imwrite(str(root / "images" / "test" / f"{stem}.png"), image)
        h, w = image.shape[:2]
        lines = [f"{person} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}"
                 for x1, y1, x2, y2 in labels[name]]  # fmt: skip
        (root / "labels" / "test" / f"{stem}.txt").write_text("".join(f"{ln}\n" for ln in lines))
    (root / "classes.txt").write_text("\n".join(class_names) + "\n")
    return root


@dataclass(frozen=True, slots=True)
class AugmentConfig:
    """Probabilities of each randomisation (per training image)."""

    empty_frame: float = 0.12
    photo_background: float = 0.15
    patches: float = 0.5
    overlay: float = 0.15
    photometric: float = 0.8
    lens: float = 0.3


class PhotoPool:
    """The training photographs, decoded once (longest side at most 512 px)."""

    def __init__(self, photos: dict[str, Path] | None = None, config: AugmentConfig | None = None) -> None:
        self.photos = training_photos() if photos is None else photos
        if not self.photos:
            raise FileNotFoundError("no training photographs installed (scikit-image's data, opencv-doc)")
        self.config = config or AugmentConfig()
        self.images: list[NDArray[np.uint8]] = []
        for path in self.photos.values():
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError(f"unreadable photograph {path}")
            scale = min(1.0, 512 / max(image.shape[:2]))
            if scale < 1.0:
                image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            self.images.append(np.ascontiguousarray(image, np.uint8))

    def crop(self, rng: np.random.Generator, w: int, h: int) -> NDArray[np.uint8]:
        """A random crop of a random photograph (random zoom, flip, 90-degree turns), resized to ``w`` x ``h``."""
        image = self.images[int(rng.integers(len(self.images)))]
        if rng.random() < 0.25:
            image = np.rot90(image, int(rng.integers(1, 4)))
        ih, iw = image.shape[:2]
        frac = rng.uniform(0.3, 1.0)
        cw = max(8, min(iw, int(iw * frac * rng.uniform(0.7, 1.3))))
        ch = max(8, min(ih, int(ih * frac * rng.uniform(0.7, 1.3))))
        x0, y0 = int(rng.integers(0, iw - cw + 1)), int(rng.integers(0, ih - ch + 1))
        out = cv2.resize(np.ascontiguousarray(image[y0 : y0 + ch, x0 : x0 + cw]), (w, h), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(out[:, ::-1] if rng.random() < 0.5 else out, np.uint8)


def randomise(
    img: NDArray[np.uint8], classes: NDArray[np.int64], xyxy: NDArray[np.float32], rng: np.random.Generator,
    pool: PhotoPool | None,
) -> tuple[NDArray[np.uint8], NDArray[np.int64], NDArray[np.float32]]:
    """Randomise one letterboxed training image (BGR) and its boxes (x1 y1 x2 y2 pixels) with real photographs."""
    cfg = pool.config if pool is not None else AugmentConfig()
    h, w = img.shape[:2]
    if pool is not None:
        if rng.random() < cfg.empty_frame:  # a real photograph, nothing to find in it
            img, classes, xyxy = pool.crop(rng, w, h), classes[:0], xyxy[:0]
        elif rng.random() < cfg.photo_background:  # our objects standing in front of a real photograph
            canvas = pool.crop(rng, w, h)
            for x1, y1, x2, y2 in xyxy.astype(int):
                x1, y1, x2, y2 = max(0, x1 - 2), max(0, y1 - 2), min(w, x2 + 2), min(h, y2 + 2)
                canvas[y1:y2, x1:x2] = img[y1:y2, x1:x2]
            img = canvas
        if rng.random() < cfg.patches:
            img = _paste_patches(img, xyxy, rng, pool)
        if rng.random() < cfg.overlay:  # a faint second image: reflections in steel walls, glass doors
            alpha = rng.uniform(0.08, 0.3)
            img = np.asarray(cv2.addWeighted(img, 1 - alpha, pool.crop(rng, w, h), alpha, 0.0), np.uint8)
    if rng.random() < cfg.photometric:
        img = photometric(img, rng)
    if rng.random() < cfg.lens:
        img, xyxy = radial_distortion(img, xyxy, rng.uniform(-0.25, 0.15))
        keep = ((xyxy[:, 2] - xyxy[:, 0]) >= 2) & ((xyxy[:, 3] - xyxy[:, 1]) >= 2)
        classes, xyxy = classes[keep], xyxy[keep]
    return np.ascontiguousarray(img, np.uint8), classes, xyxy.astype(np.float32)


def _paste_patches(
    img: NDArray[np.uint8], xyxy: NDArray[np.float32], rng: np.random.Generator, pool: PhotoPool
) -> NDArray[np.uint8]:
    """Paste 1-3 photo patches where they hide at most 15 % of any labelled object."""
    h, w = img.shape[:2]
    out = img.copy()
    areas = np.maximum(1.0, (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1]))
    for _ in range(int(rng.integers(1, 4))):
        for _try in range(6):
            pw = int(w * rng.uniform(0.12, 0.55))
            ph = int(min(h, pw * rng.uniform(0.5, 2.0)))
            x0, y0 = int(rng.integers(0, w - pw + 1)), int(rng.integers(0, h - ph + 1))
            iw = np.clip(np.minimum(xyxy[:, 2], x0 + pw) - np.maximum(xyxy[:, 0], x0), 0, None)
            ih = np.clip(np.minimum(xyxy[:, 3], y0 + ph) - np.maximum(xyxy[:, 1], y0), 0, None)
            if len(xyxy) == 0 or float((iw * ih / areas).max()) <= 0.15:
                out[y0 : y0 + ph, x0 : x0 + pw] = pool.crop(rng, pw, ph)
                break
    return out


def photometric(img: NDArray[np.uint8], rng: np.random.Generator) -> NDArray[np.uint8]:
    """Colour (hue, saturation), contrast, gamma, grey/IR, sensor noise, blur and JPEG randomisation."""
    out = img
    if rng.random() < 0.15:  # night infrared: grey
        grey = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)
        out = np.asarray(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), np.uint8)
    else:
        hsv = cv2.cvtColor(out, cv2.COLOR_BGR2HSV).astype(np.int16)
        hsv[..., 0] = (hsv[..., 0] + int(rng.integers(-12, 13))) % 180
        hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.5, 1.4), 0, 255)
        out = np.asarray(cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR), np.uint8)
    f = out.astype(np.float32) / 255.0
    f = (f - 0.5) * rng.uniform(0.6, 1.4) + 0.5 + rng.uniform(-0.12, 0.12)
    f = np.clip(f, 0, 1) ** rng.uniform(0.7, 1.4)
    if rng.random() < 0.5:
        f = f + rng.normal(0.0, rng.uniform(0.005, 0.05), f.shape).astype(np.float32)
    out = (np.clip(f, 0, 1) * 255).astype(np.uint8)
    if rng.random() < 0.25:
        k = int(rng.choice([3, 5]))
        out = cv2.GaussianBlur(out, (k, k), 0)
    if rng.random() < 0.3:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 80))])
        if ok:
            out = np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR), np.uint8)
    return np.ascontiguousarray(out, np.uint8)


def radial_distortion(
    img: NDArray[np.uint8], xyxy: NDArray[np.float32], k: float
) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    """Radial lens distortion ``r_src = r (1 + k r^2)`` (barrel for k > 0), boxes mapped through it.

    Each box becomes the bounding box of 32 points along its edges, each moved to where it lands in the output.
    """
    h, w = img.shape[:2]
    cx, cy, norm = w / 2, h / 2, math.hypot(w / 2, h / 2)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = (xs - cx) / norm, (ys - cy) / norm
    f = 1 + k * (dx * dx + dy * dy)
    out = cv2.remap(img, cx + dx * f * norm, cy + dy * f * norm, cv2.INTER_LINEAR, borderValue=(114, 114, 114))
    if len(xyxy) == 0:
        return np.asarray(out, np.uint8), xyxy
    t = np.linspace(0, 1, 8, dtype=np.float32)
    boxes = []
    for x1, y1, x2, y2 in xyxy:
        px = np.concatenate([x1 + (x2 - x1) * t, np.full(8, x2), x2 - (x2 - x1) * t, np.full(8, x1)])
        py = np.concatenate([np.full(8, y1), y1 + (y2 - y1) * t, np.full(8, y2), y2 - (y2 - y1) * t])
        sx, sy = (px - cx) / norm, (py - cy) / norm
        r_src = np.hypot(sx, sy)
        r = r_src.copy()
        for _ in range(20):  # invert r_src = r (1 + k r^2) by fixed-point iteration
            r = r_src / (1 + k * r * r)
        scale = np.where(r_src > 1e-6, r / np.maximum(r_src, 1e-6), 1.0)
        qx, qy = cx + sx * scale * norm, cy + sy * scale * norm
        boxes.append([max(0.0, qx.min()), max(0.0, qy.min()), min(float(w), qx.max()), min(float(h), qy.max())])
    return np.asarray(out, np.uint8), np.asarray(boxes, np.float32)
