"""Train the detector on a YOLO-format directory (default: rendered simulator frames) and export ONNX.

    python -m models.train                                   # render (cached) + train + export
    python -m models.train --data /path/to/yolo --names classes.txt --out my.onnx   # real footage
    python -m models.train --data DIR --from models/compound_det.onnx --out new.onnx   # fine-tune the shipped model
    python -m models.train --data DIR --from models/compound_det.onnx --out new.onnx --resume  # continue that run

``DIR`` is a YOLO directory: ``images/<split>/*.jpg|png``, ``labels/<split>/*.txt`` (``class cx cy w h``,
normalised), class names in ``classes.txt``, ``data.yaml`` or ``dataset.json``; ``--split`` defaults to
``train`` when there is one. ``--from`` takes a checkpoint (.pt) or the exported ONNX (its folded weights are
loaded back into ``models/net.py``'s network, see ``models.weights``); the data's classes may be any subset of the
model's, in any order. The checkpoint (``--checkpoint``) is rewritten every ``--save-every`` steps and each
epoch; ``--resume`` continues from it. Progress is a tqdm bar (step, epoch, losses).

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
from models.photos import PhotoPool, randomise
from models.weights import load_start, recalibrate

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
    """Letterboxed, flipped, colour-jittered batches with targets from a YOLO directory.

    With a ``PhotoPool`` (``negatives``), each image also goes through ``models.photos.augment``: real photographs
    as empty frames, backgrounds and distractor patches, photometric and lens randomisation.
    """

    def __init__(
        self, items: list[YoloItem], nc: int, size: int, rng: np.random.Generator, negatives: PhotoPool | None = None
    ) -> None:
        self.items, self.nc, self.size, self.rng, self.negatives = items, nc, size, rng, negatives

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
            if self.negatives is not None:
                img, classes, xyxy = randomise(img, classes, xyxy, self.rng, self.negatives)
            else:
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


class StepBatches(torch.utils.data.Dataset[tuple[Tensor, Tensor, Tensor, Tensor]]):
    """Batch number ``step`` of a run, built from ``(seed, step)`` alone: the same in a worker process, in the main
    process, and after ``--resume``."""

    def __init__(self, items: list[YoloItem], nc: int, size: int, batch_size: int, seed: int,
                 negatives: PhotoPool | None) -> None:
        self.items, self.nc, self.size, self.batch_size = items, nc, size, batch_size
        self.seed, self.negatives = seed, negatives
        self.steps_per_epoch = max(1, len(items) // batch_size)

    def __len__(self) -> int:
        return 1 << 30

    def __getitem__(self, step: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        epoch, b = divmod(step, self.steps_per_epoch)
        perm = np.random.default_rng((self.seed, epoch)).permutation(len(self.items))
        data = YoloBatches(self.items, self.nc, self.size, np.random.default_rng((self.seed, 1, step)), self.negatives)
        return data.batch(perm[b * self.batch_size : (b + 1) * self.batch_size])


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
    resume: Path | None = None,
    save_every: int = 100,
    max_steps: int | None = None,
    device: str = "cpu",
    negatives: PhotoPool | None = None,
    workers: int = 0,
) -> CenterNetLite:
    """Train a ``CenterNetLite`` for up to ``epochs`` or ``minutes`` (whichever ends first).

    ``init`` is the fine-tune start: a ``.pt`` checkpoint or an exported ``.onnx`` file with the same classes.
    ``resume`` continues a run from the checkpoint it wrote (weights, optimiser, step, elapsed time), so a run
    killed or cut short by its budget ends as it would have. ``negatives`` adds real photographs and photometric
    and lens randomisation (``models.photos``); ``workers`` builds batches in that many processes (same batches).
    """
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    net = CenterNetLite(len(names))
    steps_per_epoch = max(1, len(items) // batch_size)
    total = steps_per_epoch * epochs
    step, elapsed = 0, 0.0
    opt_state = None
    if resume is not None:
        state = torch.load(resume, map_location="cpu", weights_only=False)
        if list(state["names"]) != list(names):
            raise ValueError(f"checkpoint {resume} has classes {state['names']}, the data has {names}")
        net.load_state_dict(state["state_dict"])
        step, elapsed = int(state.get("step", 0)), float(state.get("elapsed", 0.0))
        opt_state = state.get("optimizer")
        log.info("resuming %s at step %d/%d (%.1f min done)", resume, step, total, elapsed / 60)
    elif init is not None:  # fine-tune start: a checkpoint or the exported ONNX, same classes
        start_point = load_start(init)
        if start_point.names != list(names):
            raise ValueError(f"checkpoint {init} has classes {start_point.names}, the data has {names}")
        net = start_point.net
        if start_point.folded:  # ONNX: give the BatchNorms the statistics of real training images
            calib = YoloBatches(items, len(names), size, np.random.default_rng(seed))
            pick = np.random.default_rng(seed).permutation(len(items))[: min(len(items), 64)]
            recalibrate(net, calib.batch(pick, augment=False)[0])
        log.info("fine-tuning from %s", init)
    log.info("training %d parameters on %d images, %d classes", count_parameters(net), len(items), len(names))
    dev = torch.device(device)
    net.to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=5e-4)
    if opt_state is not None:
        opt.load_state_dict(opt_state)
    start = time.monotonic() - elapsed
    budget = minutes * 60

    def save(epoch: int) -> None:
        if checkpoint is not None:
            torch.save({"state_dict": {k: v.cpu() for k, v in net.state_dict().items()}, "names": names,
                        "epoch": epoch, "step": step, "total": total, "elapsed": time.monotonic() - start,
                        "optimizer": opt.state_dict()}, checkpoint)

    net.train()
    stop = total if max_steps is None else min(total, step + max_steps)
    # the order of each epoch, and the augmentation of each step, depend only on (seed, epoch/step),
    # so a resumed run sees the batches the uninterrupted one would have
    steps = StepBatches(items, len(names), size, batch_size, seed, negatives)
    loader = torch.utils.data.DataLoader(steps, batch_size=None, sampler=range(step, stop), num_workers=workers,
                                         pin_memory=dev.type == "cuda", prefetch_factor=4 if workers else None,
                                         persistent_workers=False)
    with tqdm(total=total, initial=step, desc="train", unit="batch") as bar:
        for batch in loader:
            epoch = step // steps_per_epoch
            x, heat, box_t, weight = (t.to(dev, non_blocking=True) for t in batch)
            # progress is whichever is further along, steps or wall time, so the cosine schedule
            # always anneals within the time budget even on a busy machine; wall time counts in whole percent,
            # so runs that stay well inside their budget (and a resumed one) follow the same schedule step by step
            frac = max(step / total, math.floor(100 * (time.monotonic() - start) / budget) / 100)
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
            if (save_every > 0 and step % save_every == 0) or step % steps_per_epoch == 0:
                save(epoch)  # a run killed or cut short continues from here with --resume
            bar.update(1)
            bar.set_postfix(epoch=epoch, heat=f"{lh.item():.3f}", box=f"{lb.item():.3f}")
            if time.monotonic() - start > budget:
                log.warning("time budget of %.1f min reached at step %d/%d", minutes, step, total)
                break
        save(step // steps_per_epoch)
    net.to("cpu").eval()
    return net


def _lr_at(frac: float, peak: float, warmup: float = 0.05) -> float:
    """Linear warm-up then cosine decay to 2 % of ``peak`` over progress ``frac`` in 0..1."""
    if frac < warmup:
        return peak * (0.1 + 0.9 * frac / warmup)
    t = min(1.0, (frac - warmup) / (1 - warmup))
    return peak * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t)))


def remap_classes(items: list[YoloItem], data_names: list[str], model_names: list[str], root: Path) -> list[YoloItem]:
    """Renumber a dataset's class ids into a model's class order; a class the model lacks is an error."""
    unknown = [n for n in data_names if n not in model_names]
    if unknown:
        raise ValueError(f"{root}: class(es) {', '.join(unknown)} are not classes of the model "
                         f"(its classes: {', '.join(model_names)})")
    lut = np.array([model_names.index(n) for n in data_names], np.int64)
    out = []
    for item in items:
        bad = item.classes[(item.classes < 0) | (item.classes >= len(lut))]
        if len(bad):
            raise ValueError(f"{item.image}: class id {int(bad[0])} is not in the dataset's {len(lut)} class names")
        out.append(YoloItem(item.image, lut[item.classes], item.boxes))
    return out


def default_split(root: Path) -> str | None:
    """``train`` when the directory has ``images/train``, else None (images directly under ``images/``)."""
    return "train" if (root / "images" / "train").is_dir() else None


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, help="YOLO-format directory (default: render simulator frames)")
    ap.add_argument("--split", default=None, help="sub-folder of images/ and labels/ to train on (default: 'train' "
                    "when there is one)")
    ap.add_argument("--names", type=Path, help="classes.txt, one class name per line (default: the dataset's "
                    "classes.txt, data.yaml or dataset.json)")
    ap.add_argument("--count", type=int, default=TRAIN_SPEC.count, help="frames to render when --data is absent")
    ap.add_argument("--from", "--init", dest="start", type=Path,
                    help="fine-tune start: a checkpoint (.pt) of this script or an exported model (.onnx), e.g. "
                    "models/compound_det.onnx; the data's classes must be among its classes")
    ap.add_argument("--resume", action="store_true", help="continue the run that wrote --checkpoint (weights, "
                    "optimiser, step, elapsed time)")
    ap.add_argument("--epochs", type=int, default=9)
    ap.add_argument("--minutes", type=float, default=26.0, help="wall-time budget for the training loop")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda")
    ap.add_argument("--out", type=Path, default=DEFAULT_ONNX, help="ONNX file to write")
    ap.add_argument("--checkpoint", type=Path, default=CACHE_DIR / "last.pt",
                    help="checkpoint written every --save-every steps, each epoch and at the end")
    ap.add_argument("--save-every", type=int, default=100, help="also write --checkpoint every N steps (0: per epoch)")
    ap.add_argument("--max-steps", type=int, help="stop after this many steps in this run (continue with --resume)")
    ap.add_argument("--hard-negatives", action=argparse.BooleanOptionalAction, default=None,
                    help="paste real photographs (models/photos.py) into the frames as backgrounds, distractors and "
                    "empty frames, with photometric and lens randomisation (default: on for renders, off with --data)")
    ap.add_argument("--workers", type=int, default=0, help="processes that build batches (0: in the training loop)")
    ap.add_argument("--render-workers", type=int, default=2, help="processes that render frames when --data is absent")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.data is not None and not args.data.is_dir():
        ap.error(f"--data {args.data}: no such directory")
    if args.start is not None and not args.start.is_file():
        ap.error(f"--from {args.start}: no such file")
    if args.resume and not args.checkpoint.is_file():
        ap.error(f"--resume: no checkpoint at {args.checkpoint} (--checkpoint) to continue from")
    root = args.data or render_dataset(RenderSpec(count=args.count, seed=TRAIN_SPEC.seed), workers=args.render_workers)
    split = args.split if args.split is not None else default_split(root)
    data_names = (
        [ln.strip() for ln in args.names.read_text().splitlines() if ln.strip()] if args.names else class_names_of(root)
    )
    args.checkpoint.parent.mkdir(parents=True, exist_ok=True)
    try:
        items = read_yolo_dir(root, split)
    except FileNotFoundError as exc:
        ap.error(str(exc))
    if not items:
        ap.error(f"no images (.jpg, .png) under {root / 'images' / (split or '')}")
    names = data_names
    if args.resume:
        names = [str(n) for n in torch.load(args.checkpoint, map_location="cpu", weights_only=False)["names"]]
    elif args.start is not None:
        names = load_start(args.start).names
    use_photos = args.hard_negatives if args.hard_negatives is not None else args.data is None
    negatives = PhotoPool() if use_photos else None
    if negatives is not None:
        log.info("hard negatives: %d real photographs (%s)", len(negatives.images), ", ".join(negatives.photos))
    try:
        items = remap_classes(items, data_names, names, root)
        net = train(items, names, epochs=args.epochs, minutes=args.minutes, batch_size=args.batch, lr=args.lr,
                    seed=args.seed, threads=args.threads, checkpoint=args.checkpoint,
                    init=None if args.resume else args.start, resume=args.checkpoint if args.resume else None,
                    save_every=args.save_every, max_steps=args.max_steps, device=args.device,
                    negatives=negatives, workers=args.workers)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from exc
    from models.export import export_onnx

    export_onnx(net, names, args.out, size=INPUT_SIZE)
    log.info("wrote %s (%.2f MB); checkpoint %s (continue with --resume)", args.out, args.out.stat().st_size / 1e6,
             args.checkpoint)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
