"""Benchmark of the edge vision pipeline with the shipped detector.

Prints ms per frame (detector incl. pre/post-processing, one thread and all threads), how many
5 fps camera streams one CPU core sustains with motion gating (CPU seconds spent per second of
video over a mix of lift and fire-lane clips), the time from an e-bike's first visible frame to
the lift hold command, and the façade camera's (高空抛物) frames per CPU-second on one core beside MOG2 alone.

    python bench/vision.py            # table
    python bench/vision.py --json     # machine-readable
    python bench/vision.py --facade-only [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.vision import DEFAULT_MODEL, OnnxDetector, SimulatedLift, load_vision_config
from edge.vision.sources import Frame
from models.evaluate import VISION_CONFIG, _pipeline
from simulators.camera import build

MIX = [
    ("b2-u1-lift1-cam", "lift-ebike"),
    ("b2-u1-lift1-cam", "lift-people"),
    ("b2-fire-lane-cam", "fire-lane-parked"),
    ("b2-fire-lane-cam", "fire-lane-passersby"),
]


def frame_latency(threads: int, frames: int) -> dict[str, float]:
    """Per-frame detector latency (letterbox + inference + decode + NMS) in ms."""
    det = OnnxDetector(DEFAULT_MODEL, threads=threads)
    images = [build("lift-ebike", s, "heldout").frame(20.0).image for s in range(4)]
    images += [build("fire-lane-parked", s, "heldout").frame(30.0).image for s in range(4)]
    for im in images:
        det.detect(im)
    times = []
    for k in range(frames):
        im = images[k % len(images)]
        t0 = time.perf_counter()
        det.detect(im)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {
        "median_ms": round(statistics.median(times), 2),
        "p90_ms": round(times[int(len(times) * 0.9)], 2),
        "fps": round(1000 / statistics.median(times), 1),
    }


def streams_per_core(seconds: float, seed: int) -> dict[str, Any]:
    """CPU seconds per second of 5 fps video through the gated pipeline, over a clip mix; streams = 1 / that."""
    vision = load_vision_config(VISION_CONFIG)
    det = OnnxDetector(DEFAULT_MODEL, conf=vision.model.conf, iou=vision.model.iou, threads=1)
    cpu, video, frames, runs = 0.0, 0.0, 0, 0
    for device, name in MIX:
        sc = build(name, seed, "heldout")
        n = int(min(seconds, sc.duration_s) * sc.fps)
        rendered = [sc.frame(i / sc.fps).image for i in range(n)]  # rendering is not the camera's cost
        lift = SimulatedLift() if sc.kind == "lift" else None
        pipe = _pipeline(det, vision, device, lift)
        start = datetime(2026, 1, 1, tzinfo=UTC)
        c0 = time.process_time()
        for i, im in enumerate(rendered):
            pipe.process(Frame(im, i / sc.fps, start + timedelta(seconds=i / sc.fps), i))
        cpu += time.process_time() - c0
        video += n / sc.fps
        frames += n
        runs += pipe.stats.detector_runs
    per_video_s = cpu / video
    return {
        "cpu_s_per_video_s": round(per_video_s, 4),
        "streams_per_core_5fps": round(1 / per_video_s, 1),
        "detector_run_fraction": round(runs / frames, 3),
        "video_s": video,
    }


def hold_latency(clips: int) -> dict[str, Any]:
    """Stream time from the e-bike's first visible frame to the hold command, over held-out clips."""
    vision = load_vision_config(VISION_CONFIG)
    det = OnnxDetector(DEFAULT_MODEL, conf=vision.model.conf, iou=vision.model.iou, threads=1)
    lat, wall = [], []
    missed = 0
    from simulators.camera import SimulatedCamera

    for k in range(clips):
        sc = build("lift-ebike", 200_000 + k, "heldout")
        first = sc.first_visible("ebike")
        lift = SimulatedLift()
        pipe = _pipeline(det, vision, "b2-u1-lift1-cam", lift)
        for frame in iter(SimulatedCamera(sc).read, None):
            t0 = time.perf_counter()
            pipe.process(frame)
            if lift.held:
                wall.append((time.perf_counter() - t0) * 1000)
                break
        hold = lift.first("hold")
        if hold is None or first is None:
            missed += 1
            continue
        lat.append(hold.t - first)
    return {
        "clips": clips,
        "held": len(lat),
        "missed": missed,
        "median_s": round(statistics.median(lat), 2) if lat else None,
        "max_s": round(max(lat), 2) if lat else None,
        "hold_frame_processing_ms": round(statistics.median(wall), 2) if wall else None,
    }


def facade_throughput(seconds: float, seed: int) -> dict[str, Any]:
    """Façade camera (高空抛物) frames per CPU-second on one core: the whole pipeline (MOG2, blob tracking, gravity
    fit; the evidence still and clip when it raises) over a pre-rendered clip with a throw and the usual distractors,
    and beside it the cost of MOG2 alone on the same frames (the baseline every motion-based camera pays)."""
    import cv2

    from bench.facade_eval import facade_pipeline
    from simulators.camera.facade import facade_scenario

    cv2.setNumThreads(1)
    sc = facade_scenario("facade-throw", seed, "heldout", throws=1, duration_s=seconds)
    images = [sc.frame(t).image for t in sc.times()]  # rendering is not the camera's cost
    pipe = facade_pipeline()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    c0 = time.process_time()
    for i, im in enumerate(images):
        pipe.process(Frame(im, i / sc.fps, start + timedelta(seconds=i / sc.fps), i))
    cpu = time.process_time() - c0
    mog = cv2.createBackgroundSubtractorMOG2(history=300, varThreshold=25, detectShadows=False)
    c0 = time.process_time()
    for im in images:
        mog.apply(im)
    base = time.process_time() - c0
    n = len(images)
    return {
        "frame": f"{sc.w}x{sc.h}",
        "frames": n,
        "fps_per_core": round(n / cpu, 1),
        "streams_per_core_15fps": round(n / cpu / sc.fps, 2),
        "mog2_only_fps_per_core": round(n / base, 1),
        "alarms": pipe.stats.drafts,
    }


def main() -> int:
    """Run the benchmark and print a table or JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--seconds", type=float, default=60.0, help="seconds of each clip in the stream mix")
    ap.add_argument("--clips", type=int, default=10, help="e-bike clips for the hold latency")
    ap.add_argument("--facade-only", action="store_true", help="only the façade camera's throughput")
    ap.add_argument("--facade-seconds", type=float, default=12.0, help="seconds of the façade clip (15 fps)")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    if args.facade_only:
        f = facade_throughput(args.facade_seconds, 1)
        print(json.dumps({"facade": f}, indent=1) if args.json else f"façade camera: {f}")
        return 0
    result = {
        "model": DEFAULT_MODEL.name,
        "model_mb": round(DEFAULT_MODEL.stat().st_size / 1e6, 2),
        "cpu": platform.processor() or platform.machine(),
        "cores": cores,
        "one_thread": frame_latency(1, args.frames),
        "all_threads": frame_latency(cores, args.frames),
        "streams": streams_per_core(args.seconds, 1),
        "hold": hold_latency(args.clips),
        "facade": facade_throughput(args.facade_seconds, 1),
    }
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    s, h, one, allt = result["streams"], result["hold"], result["one_thread"], result["all_threads"]
    fac: Any = result["facade"]
    rows = [
        ("detector ms/frame, 1 thread (median / p90)", f"{one['median_ms']} / {one['p90_ms']}"),
        (f"detector ms/frame, {cores} threads (median / p90)", f"{allt['median_ms']} / {allt['p90_ms']}"),
        (
            "5 fps streams per core, motion-gated",
            f"{s['streams_per_core_5fps']} ({s['detector_run_fraction']:.0%} of frames detected)",
        ),
        (
            "first visible e-bike frame -> hold (median / max)",
            f"{h['median_s']} s / {h['max_s']} s ({h['held']}/{h['clips']} held)",
        ),
        (
            f"façade frames/s per core ({fac['frame']}; MOG2 alone)",
            f"{fac['fps_per_core']} ({fac['streams_per_core_15fps']} streams at 15 fps; "
            f"{fac['mog2_only_fps_per_core']})",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"edge vision bench: {result['model']} ({result['model_mb']} MB), {cores} cores")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
