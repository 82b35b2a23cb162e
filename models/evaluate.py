"""Held-out evaluation of the shipped detector and the edge vision rules (the model card's figures).

1. Frames: per-class AP50 (faster-coco-eval, COCO protocol) and precision/recall at the operating
   threshold on rendered frames from seeds and a background style training never saw.
2. Lift clips through the real edge pipeline (motion gate, tracker, rule, simulated lift): e-bike
   clips (held? time from first visible frame to hold) and hard-negative clips (bicycles, prams,
   wheelchairs, walkers, mobility scooters: held in how many?).
3. Fire-lane clips: parked cars/heaps (alarm?), passers-by and brief stops (alarms: must be 0).

    python -m models.evaluate                   # full run, writes models/eval_results.json
    python -m models.evaluate --quick           # smaller sets, for a quick look
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from faster_coco_eval import COCO, COCOeval_faster
from tqdm import tqdm

from compound.config import CameraType, Device
from compound.wire import EventState, Location
from edge.vision import (
    CAMERA_KINDS,
    CameraPipeline,
    CameraSetup,
    MotionGate,
    OnnxDetector,
    SimulatedLift,
    SortTracker,
    Zone,
    load_vision_config,
)
from edge.vision.config import CameraConfig, VisionFile
from edge.vision.pipeline import CameraDevice
from models.dataset import RenderSpec, YoloItem, class_names_of, read_yolo_dir, render_dataset
from simulators.camera import LIFT_HARD_NEGATIVES, SimulatedCamera, build

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
HELDOUT_SPEC = RenderSpec(count=1500, seed=2, split="heldout")
CLIP_SEED_BASE = 100_000
"""Clip seeds start here; training renders use seed 1 and never a scenario clip."""
VISION_CONFIG = HERE.parent / "configs" / "vision.yaml"


def evaluate_frames(det: OnnxDetector, root: Path, operating: float) -> dict[str, Any]:
    """Per-class AP50 and precision/recall at ``operating`` score on a rendered YOLO directory."""
    return evaluate_items(det, read_yolo_dir(root), class_names_of(root), operating)


def evaluate_items(det: OnnxDetector, items: list[YoloItem], names: list[str], operating: float) -> dict[str, Any]:
    """Per-class AP50 and precision/recall at ``operating`` score, COCO protocol via faster-coco-eval.

    ``names`` are the dataset's classes (any subset of the model's, any order). Also counts e-bike detections at
    ``operating`` that match no labelled e-bike (IoU 0.5): on the lift camera each could hold the doors.
    """
    import cv2

    unknown = [n for n in names if n not in det.class_names]
    if unknown:
        raise ValueError(f"class(es) {', '.join(unknown)} of the data are not classes of {det.path} "
                         f"(its classes: {', '.join(det.class_names)})")
    images, anns, dets = [], [], []
    ebike_unlabelled: list[str] = []  # e-bike detections at the alarm score where the data has no e-bike class
    for img_id, item in enumerate(tqdm(items, desc="frames", unit="frame"), start=1):
        image = cv2.imread(str(item.image))
        if image is None:
            raise ValueError(f"unreadable image {item.image}")
        h, w = image.shape[:2]
        images.append({"id": img_id, "width": w, "height": h, "file_name": item.image.name})
        for c, (cx, cy, bw, bh) in zip(item.classes, item.boxes, strict=True):
            if not 0 <= int(c) < len(names):
                raise ValueError(f"{item.image}: class id {int(c)} is not in the dataset's {len(names)} class names")
            anns.append({"id": len(anns) + 1, "image_id": img_id, "category_id": int(c) + 1, "iscrowd": 0,
                         "bbox": [float((cx - bw / 2) * w), float((cy - bh / 2) * h), float(bw * w), float(bh * h)],
                         "area": float(bw * w * bh * h)})
        for d in det.detect(image):
            if d.cls not in names:
                if d.cls == "ebike" and d.score >= operating:
                    ebike_unlabelled.append(item.image.name)
                continue
            x1, y1, x2, y2 = d.box
            dets.append({"image_id": img_id, "category_id": names.index(d.cls) + 1, "score": d.score,
                         "bbox": [x1 * w, y1 * h, (x2 - x1) * w, (y2 - y1) * h]})
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns,
                  "categories": [{"id": i + 1, "name": n} for i, n in enumerate(names)]}
    gt.createIndex()
    dt = gt.loadRes(dets) if dets else COCO()
    ev = COCOeval_faster(gt, dt, iouType="bbox", extra_calc=True)
    with contextlib.redirect_stdout(sys.stderr):  # the library prints its summary; stdout may be --json
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    gt_count = {n: sum(1 for a in anns if a["category_id"] == i + 1) for i, n in enumerate(names)}
    per_class_ap = {row["class"]: round(float(row["map@50"]), 4) for row in ev.extended_metrics["class_map"]
                    if row["class"] in gt_count and gt_count[row["class"]] > 0}
    # precision/recall at the operating threshold, from the library's own matching at IoU 0.5
    matched = {int(k.split("_", 1)[0]) for k, iou in ev.eval["matched"].items() if iou >= 0.5}
    pr: dict[str, dict[str, float]] = {}
    false_ebike_images = sorted(set(ebike_unlabelled))
    false_ebikes = len(ebike_unlabelled)
    for i, n in enumerate(names):
        kept = [a for a in dt.anns.values() if a["category_id"] == i + 1 and a["score"] >= operating]
        tp = sum(1 for a in kept if a["id"] in matched)
        pr[n] = {"gt": gt_count[n], "precision": round(tp / len(kept), 4) if kept else 0.0,
                 "recall": round(tp / gt_count[n], 4) if gt_count[n] else 0.0}
        if n == "ebike":
            false = [a for a in kept if a["id"] not in matched]
            false_ebikes += len(false)
            false_ebike_images = sorted({*false_ebike_images, *(images[a["image_id"] - 1]["file_name"] for a in false)})
    aps = list(per_class_ap.values())
    return {"images": len(images), "boxes": len(anns), "ap50": per_class_ap,
            "mean_ap50": round(sum(aps) / len(aps), 4) if aps else None, "at_threshold": pr,
            "operating_threshold": operating, "ebike_false_at_alarm": false_ebikes,
            "ebike_false_images": false_ebike_images,
            "person_recall": pr["person"]["recall"] if "person" in pr and pr["person"]["gt"] else None,
            "person_boxes": pr["person"]["gt"] if "person" in pr else 0}


def _camera(vision: VisionFile, device: str) -> CameraConfig:
    for cam in vision.cameras:
        if cam.device == device:
            return cam
    raise KeyError(f"no camera {device!r} in vision config")


def _pipeline(det: OnnxDetector, vision: VisionFile, device: str, lift: SimulatedLift | None) -> CameraPipeline:
    cam = _camera(vision, device)
    zone = Zone(cam.zones[0].name, tuple(cam.zones[0].polygon)) if cam.zones else Zone.whole_frame()
    m = vision.motion
    gate = MotionGate(pixel_threshold=m.pixel_threshold, min_changed=m.min_changed, recheck_s=m.recheck_s,
                      hold_s=m.hold_s)
    # the camera's type is the one whose options block it has in vision.yaml (lift:, fire_lane:)
    kind = next((k for k in CAMERA_KINDS.values() if k.name in (cam.model_extra or {})), None)
    if kind is None:
        raise KeyError(f"camera {device!r} has no options block of a camera type")
    dev = Device(device, CameraType(kind.device_type), "eval", "eval")
    rule = kind.rule(CameraSetup(dev, zone, cam.options_for(kind), lift))
    return CameraPipeline(CameraDevice(device, kind.name, Location(building="eval")), det, rule,
                          compound="eval", edge="eval", gate=gate, tracker=SortTracker())


def run_clip(det: OnnxDetector, vision: VisionFile, device: str, name: str, seed: int) -> dict[str, Any]:
    """Play one held-out scenario clip through the edge pipeline; report raises, clears and timing."""
    sc = build(name, seed, "heldout")
    lift = SimulatedLift() if sc.kind == "lift" else None
    pipe = _pipeline(det, vision, device, lift)
    raised, cleared = [], []
    for frame, drafts in pipe.run(SimulatedCamera(sc)):
        for d in drafts:
            (raised if d.verdict.state is EventState.RAISED else cleared).append(frame.t)
    out: dict[str, Any] = {"scenario": name, "seed": seed, "raised": raised, "cleared": cleared,
                           "frames": pipe.stats.frames, "detector_runs": pipe.stats.detector_runs}
    if lift is not None:
        hold = lift.first("hold")
        out["hold_t"] = hold.t if hold else None
        out["released"] = lift.first("release") is not None
    return out


def evaluate_clips(det: OnnxDetector, vision: VisionFile, n_ebike: int, n_negative: int, n_lane: int,
                   ) -> dict[str, Any]:
    """Clip-level figures for the lift and fire-lane rules on held-out scenario seeds."""
    lift_cam, lane_cam = "b2-u1-lift1-cam", "b2-fire-lane-cam"
    jobs: list[tuple[str, str, int]] = [(lift_cam, "lift-ebike", CLIP_SEED_BASE + i) for i in range(n_ebike)]
    for cls in LIFT_HARD_NEGATIVES:
        jobs += [(lift_cam, f"lift-{cls.replace('_', '-')}", CLIP_SEED_BASE + i) for i in range(n_negative)]
    jobs += [(lift_cam, "lift-people", CLIP_SEED_BASE + i) for i in range(max(1, n_negative // 2))]
    for name in ("fire-lane-passersby", "fire-lane-brief-stop", "fire-lane-parked", "fire-lane-heap"):
        jobs += [(lane_cam, name, CLIP_SEED_BASE + i) for i in range(n_lane)]
    results = [run_clip(det, vision, cam, name, seed) for cam, name, seed in tqdm(jobs, desc="clips", unit="clip")]
    by: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        by.setdefault(r["scenario"], []).append(r)
    summary: dict[str, Any] = {}
    ebike = by.get("lift-ebike", [])
    latencies = []
    for r in ebike:
        first = build("lift-ebike", r["seed"], "heldout").first_visible("ebike")
        if r["hold_t"] is not None and first is not None:
            latencies.append(round(r["hold_t"] - first, 2))
    summary["lift_ebike"] = {
        "clips": len(ebike), "held": sum(r["hold_t"] is not None for r in ebike),
        "released": sum(bool(r["released"]) for r in ebike),
        "hold_latency_s": {"median": statistics.median(latencies) if latencies else None,
                           "max": max(latencies) if latencies else None, "all": latencies},
    }
    negatives = {}
    for name, rs in by.items():
        if name.startswith("lift-") and name != "lift-ebike":
            negatives[name] = {"clips": len(rs), "held": sum(r["hold_t"] is not None for r in rs)}
    hard = [r for n, rs in by.items() for r in rs if n.startswith("lift-") and n not in ("lift-ebike", "lift-people")]
    summary["lift_hard_negatives"] = {
        "clips": len(hard), "held": sum(r["hold_t"] is not None for r in hard),
        "held_rate": round(sum(r["hold_t"] is not None for r in hard) / len(hard), 4) if hard else None,
        "per_scenario": negatives,
    }
    lane = {}
    for name in ("fire-lane-passersby", "fire-lane-brief-stop", "fire-lane-parked", "fire-lane-heap"):
        rs = by.get(name, [])
        lane[name] = {"clips": len(rs), "alarmed": sum(bool(r["raised"]) for r in rs),
                      "first_alarm_t": [r["raised"][0] if r["raised"] else None for r in rs]}
    summary["fire_lane"] = lane
    summary["clips"] = results
    return summary


def evaluate_real_photos(model: Path, operating: float) -> dict[str, Any]:
    """The held-out real photographs (``models.photos.HELDOUT``, never trained on): e-bike detections at the alarm
    score (all false: none holds an e-bike) and recall of the hand-labelled people."""
    import tempfile

    from models.photos import write_heldout_dir
    from simulators.camera import CLASS_NAMES

    with tempfile.TemporaryDirectory(prefix="real-photos-") as tmp:
        root = write_heldout_dir(Path(tmp), list(CLASS_NAMES))
        items = read_yolo_dir(root, "test")
        det = OnnxDetector(model, conf=0.01, threads=1)
        out = evaluate_items(det, items, list(CLASS_NAMES), operating)
        out["photos"] = sorted(f"{i.image.stem.replace('__', '/', 1)}" for i in items)
    return out


HELDOUT_SPLITS = ("val", "test")


def heldout_split(root: Path) -> str | None:
    """The held-out split of a YOLO directory: ``val`` or ``test``; None when images sit directly in ``images/``."""
    if not root.is_dir():
        raise FileNotFoundError(f"no dataset directory at {root}")
    for split in HELDOUT_SPLITS:
        if (root / "images" / split).is_dir():
            return split
    if (root / "images").is_dir() and any(p.is_file() for p in (root / "images").iterdir()):
        return None
    raise FileNotFoundError(f"{root} has no held-out split: expected images/val/ or images/test/ (YOLO layout)")


def compare_on_dir(root: Path, models: dict[str, Path], operating: float, split: str | None = None,
                   ) -> dict[str, Any]:
    """Evaluate each of ``models`` (label -> ONNX path) on the held-out split of a YOLO directory."""
    split = split if split is not None else heldout_split(root)
    items = read_yolo_dir(root, split)
    if not items:
        raise FileNotFoundError(f"no images (.jpg, .png) under {root / 'images' / (split or '')}")
    names = class_names_of(root)
    out: dict[str, Any] = {"data": str(root), "split": split, "classes": names, "operating_threshold": operating,
                           "models": {}}
    for label, path in models.items():
        det = OnnxDetector(path, conf=0.01, threads=1)
        out["models"][label] = {"path": str(path), **evaluate_items(det, items, names, operating)}
    return out


def format_comparison(result: dict[str, Any]) -> str:
    """A side-by-side table of ``compare_on_dir``'s figures, one column per model."""
    labels = list(result["models"])
    ms = [result["models"][k] for k in labels]
    op = result["operating_threshold"]
    rows: list[tuple[str, list[str]]] = [("model", [Path(m["path"]).name for m in ms]),
                                         ("images / boxes", [f"{m['images']} / {m['boxes']}" for m in ms])]
    classes = [c for c in result["classes"] if any(c in m["ap50"] for m in ms)]
    for c in classes:
        rows.append((f"AP50 {c}", [f"{m['ap50'][c]:.3f}" if c in m["ap50"] else "-" for m in ms]))
    rows.append(("AP50 mean", [f"{m['mean_ap50']:.3f}" if m["mean_ap50"] is not None else "-" for m in ms]))
    rows.append((f"e-bike false detections @{op:g}", [f"{m['ebike_false_at_alarm']} (in {len(m['ebike_false_images'])} "
                                                      "images)" for m in ms]))
    rows.append((f"person recall @{op:g}", [f"{m['person_recall']:.3f} of {m['person_boxes']}"
                                            if m["person_recall"] is not None else "-" for m in ms]))
    width = max(len(r[0]) for r in rows)
    cols = [max(len(labels[i]), *(len(r[1][i]) for r in rows)) for i in range(len(labels))]
    split = result["split"] or "images"
    lines = [f"{result['data']} ({split}): {', '.join(result['classes'])}",
             " ".ljust(width) + "  " + "  ".join(lab.rjust(c) for lab, c in zip(labels, cols, strict=True))]
    lines += [name.ljust(width) + "  " + "  ".join(v.rjust(c) for v, c in zip(vals, cols, strict=True))
              for name, vals in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=HERE / "compound_det.onnx", help="the model to evaluate")
    ap.add_argument("--data", type=Path, help="YOLO directory (e.g. the compound's marked snapshots): compare --model "
                    "with --baseline on its held-out split (val or test) instead of the rendered sets")
    ap.add_argument("--baseline", type=Path, default=HERE / "compound_det.onnx",
                    help="with --data: the running model to compare against (default: the shipped one)")
    ap.add_argument("--split", help="with --data: the split to evaluate (default: val, else test)")
    ap.add_argument("--json", action="store_true", help="with --data: print JSON instead of the table")
    ap.add_argument("--config", type=Path, default=VISION_CONFIG, help="vision.yaml with the operating rules")
    ap.add_argument("--frames", type=int, default=HELDOUT_SPEC.count)
    ap.add_argument("--ebike-clips", type=int, default=30)
    ap.add_argument("--negative-clips", type=int, default=20, help="clips per hard-negative class")
    ap.add_argument("--lane-clips", type=int, default=8, help="clips per fire-lane scenario")
    ap.add_argument("--quick", action="store_true", help="small sets for a quick look")
    ap.add_argument("--out", type=Path, default=HERE / "eval_results.json")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.data is not None:
        return _compare_main(ap, args)
    if args.quick:
        args.frames, args.ebike_clips, args.negative_clips, args.lane_clips = 300, 5, 3, 2
    vision = load_vision_config(args.config)
    start = time.monotonic()
    det = OnnxDetector(args.model, conf=0.01, threads=1)
    root = render_dataset(RenderSpec(count=args.frames, seed=HELDOUT_SPEC.seed, split="heldout"))
    lift_cfg = _camera(vision, "b2-u1-lift1-cam").lift
    operating = lift_cfg.min_score if lift_cfg else 0.5
    frames = evaluate_frames(det, root, operating)
    clip_det = OnnxDetector(args.model, conf=vision.model.conf, iou=vision.model.iou, threads=1)
    clips = evaluate_clips(clip_det, vision, args.ebike_clips, args.negative_clips, args.lane_clips)
    real = evaluate_real_photos(args.model, operating)
    result = {"model": args.model.name, "frames": frames, "clips": clips,
              "seconds": round(time.monotonic() - start, 1)}
    result["real_photos"] = real
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result["frames"].items()}, indent=1))
    print(json.dumps({k: v for k, v in result["clips"].items() if k != "clips"}, indent=1))
    print(f"held-out real photographs ({real['images']}, not ours, never trained on): e-bike detections at the "
          f"alarm score {real['ebike_false_at_alarm']} (in {', '.join(real['ebike_false_images']) or 'none'}); "
          f"person recall {real['person_recall']} of {real['person_boxes']} hand-labelled people")
    return 0


def _compare_main(ap: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    for flag, path in (("--model", args.model), ("--baseline", args.baseline)):
        if not path.is_file():
            ap.error(f"{flag} {path}: no such model file")
    vision = load_vision_config(args.config)
    lift_cfg = _camera(vision, "b2-u1-lift1-cam").lift
    operating = lift_cfg.min_score if lift_cfg else 0.5
    try:
        result = compare_on_dir(args.data, {"baseline": args.baseline, "new": args.model}, operating, args.split)
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from exc
    print(json.dumps(result, indent=1) if args.json else format_comparison(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
