"""``compound check-config [PATH]``: validate a config directory and summarise it."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from compound.config import DEFAULT_CONFIG_DIR, Compound, ConfigError, load_config


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "check-config",
        help="validate a compound config directory",
        description="Validate every file of a config directory (strict: unknown keys, bounds, references). "
        "Exits 1 and lists each problem with its file and key path when anything is wrong.",
    )
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_CONFIG_DIR, help="config directory")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        compound = load_config(args.path)
    except ConfigError as exc:
        print(f"{args.path}: {exc}", file=sys.stderr)
        return 1
    unknown = unknown_camera_types(compound)
    if unknown:
        print(f"{args.path}: invalid configuration ({len(unknown)} problem(s)):", file=sys.stderr)
        for problem in unknown:
            print(f"  - devices.yaml: {problem}", file=sys.stderr)
        return 1
    types = Counter(d.type.value for d in compound.devices.values())
    flats = sum(b.floors * b.flats_per_floor * len(b.units) for b in compound.buildings)
    print(f"OK {compound.id} ({compound.name}) from {compound.source}")
    print(f"  buildings: {len(compound.buildings)}, flats: {flats}, edges: {', '.join(compound.edges())}")
    print(f"  devices: {len(compound.devices)} ({', '.join(f'{n} {t}' for t, n in sorted(types.items()))})")
    print(
        f"  grids: 1 total, {len(compound.grids.general)} general, {len(compound.grids.micro)} micro, "
        f"{len(compound.grids.dedicated)} dedicated"
    )
    print(
        f"  people: {len(compound.people_file.people)}, rosters: {len(compound.people_file.rosters)}, "
        f"care households: {len(compound.care_households())}"
    )
    return 0


def unknown_camera_types(compound: Compound) -> list[str]:
    """One problem per camera device whose type no camera type registers (built-ins and loaded plugins)."""
    cameras = [d for d in compound.devices.values() if d.is_camera]
    if not cameras:
        return []
    from edge.vision.camera_types import CAMERA_KINDS, UnknownCameraType  # the vision stack, only when needed

    return [str(UnknownCameraType(d.id, d.type.value)) for d in cameras if d.type.value not in CAMERA_KINDS]
