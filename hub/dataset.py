"""Marked camera snapshots as a YOLO-format training set: ``compound dataset export --out DIR``.

Layout (what ``python -m models.train --data DIR`` and Ultralytics read)::

    DIR/images/{train,val}/<alarm>-<event>.jpg
    DIR/labels/{train,val}/<alarm>-<event>.txt   one "class cx cy w h" line per object, normalized 0..1
    DIR/classes.txt                               the model's class names, one a line, in model order
    DIR/data.yaml                                 path, train, val, names (Ultralytics' dataset file)
    DIR/manifest.json                             every item: alarm, camera, verdict, who marked it, split

The newest mark of each alarm counts. ``false``: an empty label file (a hard negative: nothing there to
find). ``correct``: the detector's boxes of the snapshot's event. ``missed``: those boxes plus the boxes the
person drew. The picture is the clean frame the edge sends beside the annotated snapshot
(``<event id>-frame``); for alarms from edges older than that, the annotated snapshot (boxes drawn) is used
and the manifest says ``"annotated": true``. The split is deterministic: a hash of the alarm id (or of the
camera, ``split_by="camera"``, so that no camera is in both) against ``val_fraction``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select

from hub.db import Database, EventRecord, Snapshot
from hub.marks import MarkPublic, Verdict, latest_marks

__all__ = ["FRAME_SUFFIX", "DatasetError", "ExportSummary", "export_yolo"]

FRAME_SUFFIX = "-frame"
"""The clean frame of a camera event travels as the snapshot ``<event id>-frame``."""


class DatasetError(ValueError):
    """The dataset cannot be exported: nothing marked, an unwritable directory, a class the model lacks."""


@dataclass
class ExportSummary:
    """What ``export_yolo`` wrote."""

    out: Path
    classes: list[str]
    train: int = 0
    val: int = 0
    negatives: int = 0
    boxes: int = 0
    annotated: int = 0
    skipped: list[str] = field(default_factory=list)
    """Marked alarms left out, with why (no snapshot stored)."""


def _fraction(key: str) -> float:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def _yolo_line(cls_id: int, box: Sequence[float]) -> str:
    x1, y1, x2, y2 = (min(max(float(v), 0.0), 1.0) for v in box)
    return f"{cls_id} {(x1 + x2) / 2:.6f} {(y1 + y2) / 2:.6f} {x2 - x1:.6f} {y2 - y1:.6f}"


def _prepare(out: Path, force: bool) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"{out}: cannot create the dataset directory ({exc.strerror})") from exc
    if not out.is_dir() or not os.access(out, os.W_OK):
        raise DatasetError(f"{out}: the dataset directory is not writable")
    existing = [p for p in ("images", "labels") if (out / p).exists()]
    if existing and not force:
        raise DatasetError(f"{out} already holds a dataset ({', '.join(existing)}/): choose another --out or --force")
    for name in existing:
        shutil.rmtree(out / name)
    for split in ("train", "val"):
        (out / "images" / split).mkdir(parents=True)
        (out / "labels" / split).mkdir(parents=True)


def export_yolo(
    db: Database,
    out: Path | str,
    classes: Sequence[str],
    *,
    val_fraction: float = 0.25,
    split_by: Literal["alarm", "camera"] = "alarm",
    force: bool = False,
    model: str = "",
) -> ExportSummary:
    """Write the marked snapshots and their boxes under ``out`` (see the module docstring)."""
    if not 0.0 <= val_fraction < 1.0:
        raise DatasetError(f"val fraction {val_fraction} must be in [0, 1)")
    if not classes:
        raise DatasetError("the model names no classes")
    marks = latest_marks(db)
    if not marks:
        raise DatasetError(
            "no camera alarm has been marked yet: mark alarms correct / false (正确 / 误报) in the console"
        )
    index = {name: i for i, name in enumerate(classes)}
    for mark in marks:
        for box in mark.boxes:
            if box.cls not in index:
                raise DatasetError(
                    f"alarm {mark.alarm_id}: marked class {box.cls!r} is not one of the model's classes "
                    f"({', '.join(classes)})"
                )
    root = Path(out)
    _prepare(root, force)
    summary = ExportSummary(root, list(classes))
    keys = {m.alarm_id: _fraction(m.device if split_by == "camera" else f"alarm:{m.alarm_id}") for m in marks}
    val_ids = {a for a, f in keys.items() if f < val_fraction}
    if val_fraction > 0 and not val_ids and len(marks) > 1:  # a small set still gets one held-out picture
        val_ids = {min(keys, key=lambda a: keys[a])}
        if split_by == "camera":
            cams = {m.device for m in marks if m.alarm_id in val_ids}
            val_ids = {m.alarm_id for m in marks if m.device in cams}
    if len(val_ids) == len(marks) and len(marks) > 1:  # never an empty training split
        back = max(keys, key=lambda a: keys[a])
        if split_by == "camera":
            camera = next(m.device for m in marks if m.alarm_id == back)
            back_ids = {m.alarm_id for m in marks if m.device == camera}
        else:
            back_ids = {back}
        val_ids -= back_ids  # one camera alone (split by camera): all of it trains, nothing is held out
    items: list[dict[str, Any]] = []
    with db.session() as session:
        for mark in marks:
            item = _write_item(session, root, mark, index, "val" if mark.alarm_id in val_ids else "train", summary)
            if item is not None:
                items.append(item)
    if not items:
        raise DatasetError(f"none of the {len(marks)} marked alarm(s) has a stored snapshot: nothing to export")
    (root / "classes.txt").write_text("".join(f"{c}\n" for c in classes), encoding="utf-8")
    names = "".join(f"  {i}: {c}\n" for i, c in enumerate(classes))
    (root / "data.yaml").write_text(
        f"path: {root.resolve()}\ntrain: images/train\nval: images/val\nnames:\n{names}", encoding="utf-8"
    )
    manifest = {
        "format": "yolo",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": model,
        "classes": list(classes),
        "split_by": split_by,
        "val_fraction": val_fraction,
        "counts": {
            "train": summary.train,
            "val": summary.val,
            "negatives": summary.negatives,
            "boxes": summary.boxes,
            "annotated": summary.annotated,
        },
        "skipped": summary.skipped,
        "items": items,
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    return summary


def _write_item(
    session: Any, root: Path, mark: MarkPublic, index: dict[str, int], split: str, summary: ExportSummary
) -> dict[str, Any] | None:
    clean = session.get(Snapshot, f"{mark.event_id}{FRAME_SUFFIX}")
    shot = clean or session.get(Snapshot, mark.event_id)
    if shot is None:
        summary.skipped.append(f"alarm {mark.alarm_id}: no snapshot stored for event {mark.event_id}")
        return None
    boxes: list[tuple[str, list[float], str]] = []
    if mark.verdict is not Verdict.FALSE:
        raw = session.scalars(select(EventRecord.raw).where(EventRecord.event_id == mark.event_id)).first()
        for det in ((raw or {}).get("evidence") or {}).get("detections") or []:
            if det.get("cls") in index:
                boxes.append((det["cls"], list(det["box"]), "detector"))
        boxes += [(b.cls, list(b.box), "marked") for b in mark.boxes]
    stem = f"{mark.alarm_id}-{mark.event_id}"
    image = root / "images" / split / f"{stem}.jpg"
    label = root / "labels" / split / f"{stem}.txt"
    image.write_bytes(shot.jpeg)
    label.write_text("".join(f"{_yolo_line(index[c], b)}\n" for c, b, _ in boxes), encoding="utf-8")
    setattr(summary, split, getattr(summary, split) + 1)
    summary.negatives += int(not boxes)
    summary.boxes += len(boxes)
    summary.annotated += int(clean is None)
    return {
        "alarm_id": mark.alarm_id,
        "event_id": mark.event_id,
        "device": mark.device,
        "verdict": mark.verdict.value,
        "split": split,
        "image": str(image.relative_to(root)),
        "label": str(label.relative_to(root)),
        "boxes": [{"cls": c, "box": b, "from": src} for c, b, src in boxes],
        "annotated": clean is None,
        "marked_by": mark.by,
        "marked_at": mark.at.isoformat(),
    }
