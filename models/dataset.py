"""Training data: render labelled simulator frames into a YOLO-format directory, and read any such directory.

The YOLO directory format (``images/<split>/*.jpg`` + ``labels/<split>/*.txt`` with one
``class cx cy w h`` line per box, normalized) is what public datasets and labelling tools export,
so the same reader trains the detector on real footage.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from simulators.camera import CLASS_NAMES, Placed, Scene, SceneKind, Split, sample_params

log = logging.getLogger(__name__)

CACHE_DIR = Path(os.environ.get("COMPOUND_VISION_CACHE", Path(__file__).resolve().parents[1] / ".cache" / "vision"))
"""Where rendered datasets are cached (gitignored)."""

LIFT_CLASSES = ("person", "ebike", "bicycle", "pram", "wheelchair", "walker", "mobility_scooter", "trolley", "pet")
LIFT_WEIGHTS = (1.0, 3.0, 1.6, 1.0, 1.0, 1.0, 1.6, 0.8, 0.8)
LANE_CLASSES = ("person", "car", "tricycle", "ebike", "heap", "bicycle", "pet", "trolley", "mobility_scooter")
LANE_WEIGHTS = (1.5, 1.5, 1.0, 1.5, 1.2, 0.8, 0.5, 0.4, 0.4)
RIDER_P = {"ebike": 0.3, "bicycle": 0.3, "wheelchair": 0.6, "mobility_scooter": 0.6, "tricycle": 0.0}


def random_objects(kind: SceneKind, rng: np.random.Generator) -> list[Placed]:
    """Draw a random set of objects for one training frame of a scene kind."""
    if kind == "lift":
        names, weights, n = LIFT_CLASSES, LIFT_WEIGHTS, int(rng.choice([0, 1, 1, 2, 2, 3]))
    else:
        names, weights, n = LANE_CLASSES, LANE_WEIGHTS, int(rng.choice([0, 1, 2, 3, 4, 5]))
    w = np.array(weights) / sum(weights)
    out = []
    for _ in range(n):
        cls = str(rng.choice(names, p=w))
        out.append(
            Placed(
                cls,
                u=float(rng.uniform(0.12, 0.88)),
                v=float(rng.uniform(0.05, 0.95)),
                seed=int(rng.integers(0, 2**31 - 1)),
                flip=bool(rng.random() < 0.5),
                phase=float(rng.uniform(0, 6.3)),
                rider=bool(rng.random() < RIDER_P.get(cls, 0.0)),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class RenderSpec:
    """What to render: how many frames, from which seed, for which split of scene parameters."""

    count: int
    seed: int
    split: Split = "train"
    lift_fraction: float = 0.55


def _render_chunk(args: tuple[RenderSpec, int, int, str]) -> int:
    spec, start, stop, root = args
    img_dir, lab_dir = Path(root) / "images", Path(root) / "labels"
    for i in range(start, stop):
        rng = np.random.default_rng((spec.seed, i))
        kind: SceneKind = "lift" if rng.random() < spec.lift_fraction else "fire_lane"
        scene = Scene(sample_params(kind, rng, spec.split))
        frame = scene.render(random_objects(kind, rng), frame_index=i)
        cv2.imwrite(str(img_dir / f"{i:06d}.jpg"), frame.image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        h, w = frame.image.shape[:2]
        lines = []
        for b in frame.boxes:
            if b.visible < 0.3:  # mostly hidden: unfair to demand, unfair to punish; drop
                continue
            cx, cy = (b.x1 + b.x2) / 2 / w, (b.y1 + b.y2) / 2 / h
            lines.append(f"{b.class_id} {cx:.6f} {cy:.6f} {(b.x2 - b.x1) / w:.6f} {(b.y2 - b.y1) / h:.6f}")
        (lab_dir / f"{i:06d}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
    return stop - start


def render_dataset(spec: RenderSpec, root: Path | None = None, workers: int = 2) -> Path:
    """Render ``spec`` into a YOLO directory (cached: an existing complete render is reused)."""
    root = root or CACHE_DIR / f"{spec.split}-{spec.seed}-{spec.count}"
    marker = root / "dataset.json"
    if marker.exists():
        log.info("reusing cached render %s", root)
        return root
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    step = max(1, spec.count // (workers * 8))
    chunks = [(spec, s, min(s + step, spec.count), str(root)) for s in range(0, spec.count, step)]
    from tqdm import tqdm

    with tqdm(total=spec.count, desc=f"render {spec.split}", unit="frame") as bar:
        if workers > 1:
            with ProcessPoolExecutor(workers) as pool:
                for n in pool.map(_render_chunk, chunks):
                    bar.update(n)
        else:
            for chunk in chunks:
                bar.update(_render_chunk(chunk))
    marker.write_text(json.dumps({"names": list(CLASS_NAMES), "count": spec.count, "seed": spec.seed,
                                  "split": spec.split}))
    return root


@dataclass(slots=True)
class YoloItem:
    """One labelled image: path, class ids and normalized cx, cy, w, h boxes."""

    image: Path
    classes: NDArray[np.int64]
    boxes: NDArray[np.float32]


def read_yolo_dir(root: Path, split: str | None = None) -> list[YoloItem]:
    """Read a YOLO-format directory: ``images[/split]/*.{jpg,png}`` with ``labels[/split]/*.txt``."""
    img_dir = root / "images" / split if split else root / "images"
    lab_dir = root / "labels" / split if split else root / "labels"
    if not img_dir.is_dir():
        raise FileNotFoundError(f"no images directory at {img_dir}")
    items = []
    for img in sorted(p for p in img_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp")):
        lab = lab_dir / (img.stem + ".txt")
        rows = np.zeros((0, 5), np.float32)
        if lab.exists():
            text = lab.read_text().strip()
            if text:
                rows = np.array([[float(v) for v in ln.split()[:5]] for ln in text.splitlines()], np.float32)
        items.append(YoloItem(img, rows[:, 0].astype(np.int64), rows[:, 1:5].copy()))
    return items


def letterbox(image: NDArray[np.uint8], size: int) -> tuple[NDArray[np.uint8], float, tuple[int, int]]:
    """Resize keeping aspect ratio into a ``size`` square padded with grey; return image, scale, (pad x, pad y)."""
    h, w = image.shape[:2]
    scale = size / max(h, w)
    nw, nh = round(w * scale), round(h * scale)
    out = np.full((size, size, 3), 114, np.uint8)
    px, py = (size - nw) // 2, (size - nh) // 2
    out[py : py + nh, px : px + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    return out, scale, (px, py)


def class_names_of(root: Path, default: Sequence[str] = CLASS_NAMES) -> list[str]:
    """Class names of a YOLO directory: ``dataset.json`` / ``classes.txt`` / ``data.yaml`` (ultralytics' ``names:``,
    a list or an ``{id: name}`` map) if present, else the defaults."""
    if (root / "dataset.json").exists():
        return list(json.loads((root / "dataset.json").read_text())["names"])
    if (root / "classes.txt").exists():
        return [ln.strip() for ln in (root / "classes.txt").read_text().splitlines() if ln.strip()]
    for name in ("data.yaml", "data.yml"):
        if (root / name).exists():
            import yaml

            names = (yaml.safe_load((root / name).read_text()) or {}).get("names")
            if isinstance(names, dict):
                return [str(names[k]) for k in sorted(names, key=int)]
            if isinstance(names, list):
                return [str(n) for n in names]
            raise ValueError(f"{root / name}: no 'names:' list or map of class names")
    return list(default)
