"""The fault suite's sensor driver ``fault-pulse``: smoke detectors that each see one short puff, on a schedule.

A plugin (``compound --plugin tests.faults.pulse edge --driver fault-pulse ...``): importing it registers the
driver. Detector ``k`` of the edge (its smoke detectors in id order, the first ``devices``) reads smoke above the
threshold from ``t0 + k * every`` for ``hold`` seconds, then clean air for ``tail`` seconds, then nothing. With
the fault suite's rules (confirm and clear 1 s) each puff is one incident: one ``smoke`` raise and one clear,
so an edge raises a known, countable set of events at a steady rate (``2 / every`` events/s).

The schedule runs on real (Unix) time so that an edge whose clock is skewed sees the puffs when the others
do; the samples carry the edge clock's time (``now``), as a real gateway stamps them. The detectors stay silent
until the ``go`` file exists (the harness writes it once the hub and every edge run, however slowly the machine
starts them); the first poll after that fixes ``t0`` (now plus ``lead`` seconds) and writes it to the
``schedule`` file, which a restarted edge reads to resume the schedule where it stands. A puff that falls
wholly in time the edge was down is never seen: it raises nothing (the suite counts only what the edges raised,
from their journals).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from compound.clock import Clock
from compound.config import Compound
from compound.drivers import Quantity, Sample, register_driver

__all__ = ["CLEAN", "NAME", "SMOKE", "PulseDriver", "read_start_time", "smoke_detectors", "start_time"]

NAME = "fault-pulse"
SMOKE = 0.4
"""dB/m during a puff: well above the 0.15 threshold."""
CLEAN = 0.01
"""dB/m of clean air: below the 0.08 clear level."""


def smoke_detectors(compound: Compound, edge: str) -> list[str]:
    """The edge's smoke detectors in id order (the order puffs are given in)."""
    return sorted(d.id for d in compound.devices_of_edge(edge) if d.id.endswith("-smoke"))


class PulseDriver:
    """One puff per detector, detector ``k`` at ``t0 + k * every`` (Unix seconds)."""

    name = NAME

    def __init__(
        self, devices: Sequence[str], *, schedule: Path, go: Path, every: float, hold: float, tail: float, lead: float
    ) -> None:
        if every <= 0 or hold <= 0 or tail <= 0 or lead < 0:
            raise ValueError(f"every, hold and tail must be > 0 s, lead >= 0, got {every}, {hold}, {tail}, {lead}")
        self._devices = list(devices)
        self.schedule, self.go = schedule, go
        self.t0: float | None = read_start_time(schedule)
        self.every, self.hold, self.tail, self.lead = every, hold, tail, lead

    def devices(self) -> Sequence[str]:
        return list(self._devices)

    def poll(self, now: datetime) -> Sequence[Sample]:
        if self.t0 is None:
            if not self.go.exists():
                return []
            self.t0 = start_time(self.schedule, self.lead)
        real = time.time()
        samples = []
        for k, device in enumerate(self._devices):
            since = real - (self.t0 + k * self.every)
            if since < 0:
                break  # later detectors start later still
            if since < self.hold:
                samples.append(Sample(device, Quantity.SMOKE, SMOKE, now, battery=90.0))
            elif since < self.hold + self.tail:
                samples.append(Sample(device, Quantity.SMOKE, CLEAN, now, battery=90.0))
        return samples

    def close(self) -> None:
        return None


def start_time(schedule: Path, lead: float) -> float:
    """The schedule's ``t0``: read from ``schedule``, or now + ``lead`` written there (atomically) on first start."""
    if schedule.exists():
        return float(schedule.read_text())
    t0 = time.time() + lead
    partial = schedule.with_name(schedule.name + ".partial")
    partial.write_text(repr(t0))
    partial.replace(schedule)
    return t0


def read_start_time(schedule: Path) -> float | None:
    """``t0`` of a schedule file, None before the driver wrote it."""
    return float(schedule.read_text()) if schedule.exists() else None


def _factory(compound: Compound, edge_id: str, clock: Clock, **options: Any) -> PulseDriver:
    """``--driver-option`` ``devices=N schedule=PATH go=PATH every=S hold=S tail=S lead=S``;
    ``start``/``scenario``/``seed`` ignored."""
    try:
        count, schedule, go = int(options["devices"]), Path(options["schedule"]), Path(options["go"])
        every, hold, tail = float(options["every"]), float(options.get("hold", 2.0)), float(options.get("tail", 2.0))
        lead = float(options.get("lead", 0.3))
    except KeyError as exc:
        raise ValueError(f"fault-pulse needs --driver-option {exc.args[0]}=...") from None
    detectors = smoke_detectors(compound, edge_id)
    if not 0 < count <= len(detectors):
        raise ValueError(f"devices must be 1..{len(detectors)} (edge {edge_id}'s smoke detectors), got {count}")
    return PulseDriver(detectors[:count], schedule=schedule, go=go, every=every, hold=hold, tail=tail, lead=lead)


register_driver(NAME, _factory)
