"""Device simulators: produce what real devices would (readings, frames); know nothing of rules or MQTT.

``SimulatedGateway`` is the ``sim`` sensor driver: one edge's smoke, gas and door devices, stepped on
simulated time by physics, residents' routines and a scenario timeline (``configs/scenarios/*.yaml``).
``simulators.camera.SimulatedCamera`` is the ``sim:`` camera source. ``register()`` offers both.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from compound.clock import Clock
from compound.config import Compound
from compound.drivers import register_driver
from compound.frames import FrameSource, register_camera_source
from simulators.gateway import GRANT_LEAD_S, Reporting, SimulatedGateway, device_rng
from simulators.scenario import (
    SCENARIO_DIR,
    Action,
    Growth,
    Scenario,
    Step,
    as_scenario,
    check_scenario,
    edges_of,
    list_scenarios,
    load_scenario,
)

__all__ = [
    "GRANT_LEAD_S",
    "SCENARIO_DIR",
    "Action",
    "Growth",
    "Reporting",
    "Scenario",
    "SimulatedGateway",
    "Step",
    "check_scenario",
    "device_rng",
    "edges_of",
    "gateway_factory",
    "list_scenarios",
    "load_scenario",
    "open_sim_camera",
    "register",
]

log = logging.getLogger(__name__)


def gateway_factory(
    compound: Compound,
    edge_id: str,
    clock: Clock,
    *,
    scenario: Scenario | str | None = None,
    seed: int | None = None,
    start: datetime | None = None,
    **options: Any,
) -> SimulatedGateway:
    """``DriverFactory`` for ``sim``: a gateway for ``edge_id`` starting at the scenario start (else now)."""
    if options:
        raise TypeError(f"unknown sim driver option(s): {', '.join(sorted(options))}")
    resolved = as_scenario(scenario)
    begin = start or (resolved.start if resolved is not None else clock.now())
    drift = abs((clock.now() - begin).total_seconds())
    if drift > 3600:
        log.warning(
            "sim driver for %s starts at %s but the clock reads %s: samples appear only once the clock gets there",
            edge_id,
            begin.isoformat(),
            clock.now().isoformat(),
        )
    return SimulatedGateway(compound, edge_id, scenario=resolved, seed=seed, start=begin)


def open_sim_camera(spec: str) -> FrameSource:
    """The ``sim:`` camera source (the renderer, OpenCV included, is imported only when a camera is opened)."""
    from simulators.camera.source import open_sim_camera as open_camera

    return open_camera(spec)


def register() -> None:
    """Register the simulated gateway as driver ``sim`` and the rendered scenes as camera source ``sim:``."""
    register_driver("sim", gateway_factory)
    register_camera_source("sim", open_sim_camera)
