"""Fixtures for simulator tests: a tiny compound (fast property tests) and a helper to run a gateway."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from compound.config import Compound, load_config
from compound.drivers import Quantity, Sample
from simulators import Scenario, SimulatedGateway

TINY: dict[str, Any] = {
    "compound.yaml": {
        "compound": {"id": "tiny", "name": "Tiny compound"},
        "buildings": [{"id": "t1", "name": "T1", "units": ["u1"], "floors": 2, "flats_per_floor": 2}],
    },
    "devices.yaml": {
        "rules": [
            {"type": "smoke_detector", "every": "flat"},
            {"type": "gas_detector", "every": "kitchen", "battery": False},
            {"type": "door_contact", "every": "unit_entrance", "battery": False},
            {"type": "door_contact", "every": "fire_door"},
            {"type": "door_contact", "every": "care_household"},
        ]
    },
    "grids.yaml": {
        "total": {"id": "g-total", "name": "Total"},
        "general": [{"id": "g-1", "name": "General", "buildings": ["t1"]}],
        "micro": [{"id": "mg-t1-u1", "name": "Micro", "general": "g-1", "building": "t1", "unit": "u1"}],
    },
    "people.yaml": {"people": [{"id": "p-1", "name": "Worker", "role": "micro_grid_worker", "phone": "+86 138 0000"}]},
    "households.yaml": {
        "households": [
            {
                "building": "t1",
                "unit": "u1",
                "flat": "201",
                "residents": [{"name": "Old", "age": 90}],
                "care": {
                    "reason": "elderly_alone",
                    "emergency_contact": {"name": "Kid", "relation": "son", "phone": "+86 139 0000"},
                },
            }
        ]
    },
}


@pytest.fixture(scope="session")
def tiny_compound(tmp_path_factory: pytest.TempPathFactory) -> Compound:
    """A compound of one unit, 2 floors, 2 flats a floor, one care household (12 devices)."""
    root = tmp_path_factory.mktemp("tiny-config")
    for name, data in TINY.items():
        (root / name).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_config(root)


@pytest.fixture(scope="session")
def sample_compound() -> Compound:
    """The repo's sample compound."""
    return load_config(Path(__file__).resolve().parents[2] / "configs")


def run_gateway(
    gateway: SimulatedGateway, start: datetime, until_s: float, every_s: float | Iterable[float] = 10.0
) -> list[Sample]:
    """Poll ``gateway`` from ``start`` every ``every_s`` seconds (or at the given offsets) up to ``until_s``."""
    offsets = [float(x) for x in every_s] if not isinstance(every_s, float | int) else None
    samples: list[Sample] = []
    if offsets is None:
        t = 0.0
        offsets = []
        while t < until_s:
            t = min(t + float(every_s), until_s)  # type: ignore[arg-type]
            offsets.append(t)
    for t in offsets:
        samples.extend(gateway.poll(start + timedelta(seconds=t)))
    return samples


def scenario(**fields: Any) -> Scenario:
    """An in-memory scenario with defaults for the tiny compound."""
    base: dict[str, Any] = {
        "name": "test",
        "description": "test scenario",
        "start": "2026-11-24T12:00:00+08:00",
        "duration_s": 3600,
        "seed": 1,
    }
    base.update(fields)
    return Scenario.model_validate(base)


def series(
    samples: Iterable[Sample], device: str, start: datetime, quantity: Quantity | None = None
) -> list[tuple[float, float]]:
    """(seconds since start, value) of one device's samples of ``quantity`` (default: its state, not grants)."""
    return [
        ((s.at - start).total_seconds(), s.value)
        for s in samples
        if s.device == device and (s.quantity is quantity if quantity is not None else s.quantity.periodic)
    ]
