"""``compound dataset export --out DIR``: the camera alarms people marked, as a YOLO-format training set.

Reads the hub database (``--url``, default ``<data-dir>/hub.db``) and writes ``DIR/images/{train,val}``,
``DIR/labels/{train,val}``, ``classes.txt`` (the model's class names from its ONNX metadata, in model order),
``data.yaml`` and ``manifest.json`` (``hub.dataset``). Then ``python -m models.train --data DIR``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from compound.cli.options import add_data_dir_option


def register(sub: Any) -> None:
    """Add the ``dataset`` subcommand."""
    parser = sub.add_parser(
        "dataset",
        help="export the camera alarms marked in the console as a training set (YOLO format)",
        description="Marked camera alarms (correct / false / missed boxes) as a YOLO dataset for fine-tuning.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    export = actions.add_parser(
        "export",
        help="write DIR/images, DIR/labels, classes.txt, data.yaml, manifest.json",
        description="A false-marked snapshot gets an empty label file (a hard negative); a correct one keeps the "
        "detector's boxes; a missed one adds the boxes people drew. The split is deterministic.",
    )
    export.add_argument("--out", type=Path, required=True, help="dataset directory (created)")
    add_data_dir_option(export)
    export.add_argument("--url", default=None, help="hub database URL (default: sqlite:///<data-dir>/hub.db)")
    export.add_argument(
        "--model",
        type=Path,
        default=None,
        help="the model whose classes number the labels (default: the live one, promoted or shipped)",
    )
    export.add_argument("--val-fraction", type=float, default=0.25, help="share held out for validation (0..1)")
    export.add_argument(
        "--split-by", choices=("alarm", "camera"), default="alarm", help="what the split hashes (default alarm)"
    )
    export.add_argument("--force", action="store_true", help="replace a dataset already in --out")
    export.set_defaults(func=run)


def live_model(data_dir: Path) -> Path:
    """The live detector of a data directory: the promoted version, else the shipped one."""
    from compound.modelstore import ModelStore
    from edge.vision.detector import DEFAULT_MODEL

    return ModelStore.of_data_dir(data_dir).live_path() or DEFAULT_MODEL


def run(args: argparse.Namespace) -> int:
    """Export; a clear message and exit 2 for what the person can fix."""
    from sqlalchemy.exc import SQLAlchemyError

    from compound.modelstore import ModelStoreError, check_onnx
    from hub.dataset import DatasetError, export_yolo
    from hub.db import Database, default_url

    url = str(args.url or default_url(args.data_dir))
    if args.url is None and not (args.data_dir / "hub.db").exists():
        print(f"compound dataset: no hub database in {args.data_dir} (give --data-dir or --url)", file=sys.stderr)
        return 2
    model = args.model or live_model(args.data_dir)
    try:
        classes = check_onnx(model)
    except ModelStoreError as exc:
        print(f"compound dataset: {exc}", file=sys.stderr)
        return 2
    db = Database(url)
    try:
        summary = export_yolo(
            db,
            args.out,
            classes,
            val_fraction=args.val_fraction,
            split_by=args.split_by,
            force=args.force,
            model=str(model),
        )
    except DatasetError as exc:
        print(f"compound dataset: {exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        print(f"compound dataset: database {url}: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    print(
        f"{summary.out}: {summary.train} train + {summary.val} val pictures, {summary.boxes} boxes, "
        f"{summary.negatives} hard negatives, classes {', '.join(summary.classes)}"
    )
    if summary.annotated:
        print(f"  {summary.annotated} picture(s) have the edge's boxes drawn on (no clean frame stored)")
    for line in summary.skipped:
        print(f"  skipped: {line}")
    return 0
