"""Train the detector on a YOLO-format directory (default: rendered simulator frames) and export ONNX.

    python -m models.train                                   # render (cached) + train + export
    python -m models.train --data /path/to/yolo --names classes.txt --out my.onnx   # real footage

Needs the ``train`` extra (``pip install -e .[train]``). Training is bounded by ``--minutes``.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor
from tqdm import tqdm

from models.dataset import CACHE_DIR, RenderSpec, YoloItem, class_names_of, letterbox, read_yolo_dir, render_dataset
from models.net import STRIDE, CenterNetLite, cell_centres, count_parameters, decode_ltrb

log = logging.getLogger(__name__)

INPUT_SIZE = 192
DEFAULT_ONNX = Path(__file__).resolve().parent / "compound_det.onnx"
TRAIN_SPEC = RenderSpec(count=8000, seed=1)


def build_targets(
    classes: NDArray[np.int64], boxes: NDArray[np.float32], nc: int, size: int
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
    """Heatmaps [nc, G, G], box targets [4, G, G] (x1 y1 x2 y2 px) and box weights [G, G] for one image."""
    g = size // STRIDE
    heat = np.zeros((nc, g, g), np.float32)
    box_t = np.zeros((4, g, g), np.float32)
    weight = np.zeros((g, g), np.float32)
    ys, xs = np.mgrid[0:g, 0:g].astype(np.float32)
    order = np.argsort(-(boxes[:, 2] * boxes[:, 3])) if len(boxes) else []
    for k in order:  # large first, so small objects own the cells they share
        x1, y1, x2, y2 = boxes[k]
        w, h = x2 - x1, y2 - y1
        if w < 2 or h < 2:
            continue
        cx, cy = (x1 + x2) / 2 / STRIDE, (y1 + y2) / 2 / STRIDE
        ix, iy = min(int(cx), g - 1), min(int(cy), g - 1)
        sx, sy = max(0.5, w / STRIDE / 6), max(0.5, h / STRIDE / 6)
        gauss = np.exp(-(((xs - ix) ** 2) / (2 * sx * sx) + ((ys - iy) ** 2) / (2 * sy * sy)))
        c = int(classes[k])
        heat[c] = np.maximum(heat[c], gauss)
        heat[c, iy, ix] = 1.0
        area = gauss > 0.3
        box_t[:, area] = np.array([x1, y1, x2, y2], np.float32)[:, None]
        weight[area] = gauss[area] * math.log(max(w * h, 4.0))
    return heat, box_t, weight


class YoloBatches:
    """Letterboxed, flipped, colour-jittered batches with targets from a YOLO directory."""

    def __init__(self, items: list[YoloItem], nc: int, size: int, rng: np.random.Generator) -> None:
        self.items, self.nc, self.size, self.rng = items, nc, size, rng

    def load(self, item: YoloItem, augment: bool) -> tuple[NDArray[np.uint8], NDArray[np.int64], NDArray[np.float32]]:
        """Read an image, letterbox it and map its boxes to input pixels (x1 y1 x2 y2)."""
        image = cv2.imread(str(item.image))
        if image is None:
            raise ValueError(f"unreadable image {item.image}")
        h, w = image.shape[:2]
        img, scale, (px, py) = letterbox(image, self.size)
        b = item.boxes
        xyxy = np.stack(
            [(b[:, 0] - b[:, 2] / 2) * w, (b[:, 1] - b[:, 3] / 2) * h, (b[:, 0] + b[:, 2] / 2) * w,
             (b[:, 1] + b[:, 3] / 2) * h], axis=1) * scale if len(b) else np.zeros((0, 4), np.float32)
        xyxy = xyxy + np.array([px, py, px, py], np.float32)
        keep = item.classes < self.nc
        classes, xyxy = item.classes[keep], xyxy[keep].astype(np.float32)
        if augment:
            if self.rng.random() < 0.5:
                img = img[:, ::-1].copy()
                xyxy = np.stack([self.size - xyxy[:, 2], xyxy[:, 1], self.size - xyxy[:, 0], xyxy[:, 3]], 1)
            gain = self.rng.uniform(0.8, 1.2)
            img = np.clip(img.astype(np.float32) * gain + self.rng.uniform(-12, 12), 0, 255).astype(np.uint8)
        return img, classes, xyxy

    def batch(self, idx: NDArray[np.int64], augment: bool = True) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Tensors for a batch of item indices: images, heatmaps, box targets, box weights."""
        imgs, heats, boxes, weights = [], [], [], []
        for i in idx:
            img, classes, xyxy = self.load(self.items[int(i)], augment)
            heat, box_t, weight = build_targets(classes, xyxy, self.nc, self.size)
            imgs.append(img[:, :, ::-1].transpose(2, 0, 1))
            heats.append(heat)
            boxes.append(box_t)
            weights.append(weight)
        x = torch.from_numpy(np.ascontiguousarray(np.stack(imgs))).float() / 255.0
        targets = (torch.from_numpy(np.stack(a)) for a in (heats, boxes, weights))
        return (x, *targets)  # type: ignore[return-value]


def focal_loss(logits: Tensor, target: Tensor) -> Tensor:
    """CenterNet's penalty-reduced focal loss on Gaussian heatmaps."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1).float()
    neg = 1.0 - pos
    pos_loss = torch.log(p) * (1 - p) ** 2 * pos
    neg_loss = torch.log(1 - p) * p**2 * (1 - target) ** 4 * neg
    num_pos = pos.sum().clamp(min=1.0)
    return -(pos_loss.sum() + neg_loss.sum()) / num_pos


def giou_loss(box_logits: Tensor, box_t: Tensor, weight: Tensor) -> Tensor:
    """Weighted GIoU loss between decoded boxes and targets on the cells that carry a box."""
    _n, _, h, w = box_logits.shape
    gx, gy = cell_centres(h, w, box_logits.device)
    d = decode_ltrb(box_logits)
    px1, py1, px2, py2 = gx - d[:, 0], gy - d[:, 1], gx + d[:, 2], gy + d[:, 3]
    tx1, ty1, tx2, ty2 = box_t[:, 0], box_t[:, 1], box_t[:, 2], box_t[:, 3]
    iw = (torch.minimum(px2, tx2) - torch.maximum(px1, tx1)).clamp(min=0)
    ih = (torch.minimum(py2, ty2) - torch.maximum(py1, ty1)).clamp(min=0)
    inter = iw * ih
    union = (px2 - px1) * (py2 - py1) + (tx2 - tx1) * (ty2 - ty1) - inter
    iou = inter / union.clamp(min=1e-6)
    cw = torch.maximum(px2, tx2) - torch.minimum(px1, tx1)
    ch = torch.maximum(py2, ty2) - torch.minimum(py1, ty1)
    enclose = (cw * ch).clamp(min=1e-6)
    giou = iou - (enclose - union) / enclose
    return ((1 - giou) * weight).sum() / weight.sum().clamp(min=1e-6)


def train(
    items: list[YoloItem],
    names: list[str],
    *,
    epochs: int,
    minutes: float,
    batch_size: int = 32,
    lr: float = 3e-3,
    seed: int = 0,
    size: int = INPUT_SIZE,
    threads: int = 2,
    checkpoint: Path | None = None,
    init: Path | None = None,
    save_every: int = 100,
) -> CenterNetLite:
    """Train a ``CenterNetLite`` for up to ``epochs`` or ``minutes`` (whichever ends first)."""
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    net = CenterNetLite(len(names))
    if init is not None:  # continue from a checkpoint (same classes), e.g. a run cut short by its time budget
        state = torch.load(init, map_location="cpu", weights_only=False)
        if list(state["names"]) != list(names):
            raise ValueError(f"checkpoint {init} has classes {state['names']}, the data has {names}")
        net.load_state_dict(state["state_dict"])
        log.info("continuing from %s", init)
    log.info("training %d parameters on %d images, %d classes", count_parameters(net), len(items), len(names))
    data = YoloBatches(items, len(names), size, rng)
    steps_per_epoch = max(1, len(items) // batch_size)
    total = steps_per_epoch * epochs
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=5e-4)
    start = time.monotonic()
    budget = minutes * 60
    net.train()
    step = 0
    with tqdm(total=total, desc="train", unit="batch") as bar:
        for epoch in range(epochs):
            perm = rng.permutation(len(items))
            for b in range(steps_per_epoch):
                x, heat, box_t, weight = data.batch(perm[b * batch_size : (b + 1) * batch_size])
                # progress is whichever is further along, steps or wall time, so the cosine schedule
                # always anneals within the time budget even on a busy machine
                frac = max(step / total, (time.monotonic() - start) / budget)
                for group in opt.param_groups:
                    group["lr"] = _lr_at(frac, lr)
                hl, bl = net(x)
                lh, lb = focal_loss(hl, heat), giou_loss(bl, box_t, weight)
                loss = lh + 2.0 * lb
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
                opt.step()
                step += 1
                if checkpoint is not None and save_every > 0 and step % save_every == 0:
                    # a run killed or cut short can continue from here with --init
                    state = {"state_dict": net.state_dict(), "names": names, "epoch": epoch, "step": step}
                    torch.save(state, checkpoint)
                bar.update(1)
                bar.set_postfix(epoch=epoch, heat=f"{lh.item():.3f}", box=f"{lb.item():.3f}")
                if time.monotonic() - start > budget:
                    log.warning("time budget of %.1f min reached at step %d/%d", minutes, step, total)
                    net.eval()
                    return net
            if checkpoint is not None:
                torch.save({"state_dict": net.state_dict(), "names": names, "epoch": epoch, "step": step}, checkpoint)
    net.eval()
    return net


def _lr_at(frac: float, peak: float, warmup: float = 0.05) -> float:
    """Linear warm-up then cosine decay to 2 % of ``peak`` over progress ``frac`` in 0..1."""
    if frac < warmup:
        return peak * (0.1 + 0.9 * frac / warmup)
    t = min(1.0, (frac - warmup) / (1 - warmup))
    return peak * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t)))


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, help="YOLO-format directory (default: render simulator frames)")
    ap.add_argument("--split", default=None, help="sub-folder of images/ and labels/ to train on, e.g. 'train'")
    ap.add_argument("--names", type=Path, help="classes.txt, one class name per line (default: the dataset's)")
    ap.add_argument("--count", type=int, default=TRAIN_SPEC.count, help="frames to render when --data is absent")
    ap.add_argument("--epochs", type=int, default=9)
    ap.add_argument("--minutes", type=float, default=26.0, help="wall-time budget for the training loop")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=DEFAULT_ONNX, help="ONNX file to write")
    ap.add_argument("--checkpoint", type=Path, default=CACHE_DIR / "last.pt")
    ap.add_argument("--init", type=Path, help="checkpoint to continue training from (fine-tune, same classes)")
    ap.add_argument("--save-every", type=int, default=100, help="also write --checkpoint every N steps (0: per epoch)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = args.data or render_dataset(RenderSpec(count=args.count, seed=TRAIN_SPEC.seed))
    names = (
        [ln.strip() for ln in args.names.read_text().splitlines() if ln.strip()] if args.names else class_names_of(root)
    )
    args.checkpoint.parent.mkdir(parents=True, exist_ok=True)
    items = read_yolo_dir(root, args.split)
    if not items:
        raise SystemExit(f"no images found under {root}")
    net = train(items, names, epochs=args.epochs, minutes=args.minutes, batch_size=args.batch, lr=args.lr,
                threads=args.threads, checkpoint=args.checkpoint, init=args.init, save_every=args.save_every)
    torch.save({"state_dict": net.state_dict(), "names": names}, args.checkpoint)
    from models.export import export_onnx

    export_onnx(net, names, args.out, size=INPUT_SIZE)
    log.info("wrote %s (%.2f MB)", args.out, args.out.stat().st_size / 1e6)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
