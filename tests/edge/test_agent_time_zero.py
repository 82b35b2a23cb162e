"""An edge agent started ahead of its fast simulated clock's time zero, as ``compound up`` starts its edges.

``compound up`` starts every edge a few real seconds before simulated time zero (imports, connection); at
x300 that is 900 simulated seconds. The agent waits for time zero before its first tick: the simulated
devices exist from zero on, and silence counted from a tick before it flagged every one of them
``device_offline`` at start-up (294 of b2's 437 in the battery scenario), cleared a minute later.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from compound import wire
from compound.clock import ScaledClock
from compound.config import Compound
from compound.drivers import Sample
from compound.wire import EventKind, EventState, MessageType
from edge.agent import AgentOptions, EdgeAgent
from edge.outbox import Lane, Outbox
from simulators import SimulatedGateway, load_scenario

SPEED = 600.0
LEAD_S = 1.0
"""Real seconds the agent starts ahead of time zero: 600 simulated ones, twice ``offline_after_s``."""
RUN_S = 1200.0
"""Simulated seconds the agent runs from time zero: past the never-heard device's grace, with ticks to spare."""
NEVER_HEARD = "b2-u2-1801-gas"


class Unplugged:
    """The simulated gateway with one device unplugged: it never reports."""

    name = "sim"

    def __init__(self, gateway: SimulatedGateway, device: str) -> None:
        self.gateway, self.device = gateway, device

    def devices(self) -> Sequence[str]:
        return self.gateway.devices()

    def poll(self, now: datetime) -> Sequence[Sample]:
        return [s for s in self.gateway.poll(now) if s.device != self.device]

    def close(self) -> None:
        self.gateway.close()


def test_an_edge_started_before_time_zero_flags_only_the_device_that_never_reports(
    compound: Compound, tmp_path: Path
) -> None:
    """Test that an agent started before a x600 clock's time zero raises no ``device_offline`` for devices that
    report, and still flags a device never heard from once it has been silent ``offline_after_s`` from time zero."""
    scenario = load_scenario("detector-battery-dying")
    clock = ScaledClock(scenario.start, SPEED, real_start=time.time() + LEAD_S)
    gateway = SimulatedGateway(compound, "b2", scenario=scenario, start=clock.start)
    assert NEVER_HEARD in gateway.devices()
    options = AgentOptions(
        tick_s=SPEED / 20, until=clock.start + timedelta(seconds=RUN_S), reading_interval_s=0, drain_timeout_s=0.1
    )
    agent = EdgeAgent(
        compound, "b2", [Unplugged(gateway, NEVER_HEARD)], clock, host="127.0.0.1", port=1, data_dir=tmp_path,
        options=options,
    )  # fmt: skip
    assert clock.now() < clock.start  # the agent is up ahead of time zero, like an edge of `compound up`

    asyncio.run(asyncio.wait_for(agent.run(), timeout=60))

    outbox = Outbox(tmp_path / "edge-b2" / "outbox.db")
    try:
        events = [wire.parse(MessageType.EVENT, e.payload) for e in outbox.pending(Lane.EVENT, limit=100_000)]
    finally:
        outbox.close()
    offline = [e for e in events if e.kind is EventKind.DEVICE_OFFLINE]
    assert [(e.device, e.state) for e in offline] == [(NEVER_HEARD, EventState.RAISED)]
    grace = timedelta(seconds=compound.rules.fault.offline_after_s)
    assert offline[0].occurred_at >= clock.start + grace  # silence counted from time zero, not from before it
    assert all(e.occurred_at >= clock.start for e in events)  # nothing judged before the timeline began
