"""An edge agent started again on the data dir of a previous run: a new timeline, or the same one resumed.

The agent saves a resume point (the clock's time of its last stored events and of its stop) so that a
restart on the same timeline does not judge the samples its previous run already judged. A new run of a
scenario (``make up`` reuses ``./.compound``) starts its timeline over, before that point: the point does
not apply there. Honouring it discarded every sample of the new run, so every device looked silent and was
raised ``device_offline`` ``offline_after_s`` into it (435 of b2's devices at +300 s).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from compound import wire
from compound.clock import ManualClock
from compound.config import Compound
from compound.drivers import SensorDriver
from compound.wire import Event, EventKind, EventState, MessageType
from edge.agent import AgentOptions, EdgeAgent
from edge.outbox import Lane, Outbox
from simulators import SimulatedGateway, load_scenario
from tests.edge.conftest import NIGHT
from tests.edge.test_agent_local import ScriptedDriver, series

EDGE = "b2"


def run_once(
    compound: Compound, drivers: Sequence[SensorDriver], start: datetime, seconds: float, data_dir: Path, tick_s: float
) -> list[Event]:
    """Run an agent on a manual clock from ``start`` for ``seconds`` (no broker); return the events it stored."""
    clock = ManualClock(start)
    options = AgentOptions(
        tick_s=tick_s, until=start + timedelta(seconds=seconds), reading_interval_s=0, drain_timeout_s=0.1
    )
    agent = EdgeAgent(compound, EDGE, drivers, clock, host="127.0.0.1", port=1, data_dir=data_dir, options=options)
    before = agent.outbox.last_seq()
    asyncio.run(asyncio.wait_for(agent.run(), timeout=60))
    outbox = Outbox(data_dir / f"edge-{EDGE}" / "outbox.db")
    try:
        events = [wire.parse(MessageType.EVENT, e.payload) for e in outbox.pending(Lane.EVENT, limit=100_000)]
    finally:
        outbox.close()
    return [e for e in events if e.seq > before]


def judged(events: Sequence[Event]) -> list[tuple[EventKind, EventState, str, datetime]]:
    """What was decided, when: events without their ids and seqs."""
    return [(e.kind, e.state, e.device, e.occurred_at) for e in events]


def test_a_second_run_of_a_scenario_in_the_same_data_dir_judges_it_like_the_first(
    compound: Compound, tmp_path: Path
) -> None:
    """Test that running a scenario again on the same data dir and simulated start raises the same events at the
    same simulated times as the first run, and no ``device_offline`` for devices that report."""
    scenario = load_scenario("kitchen-fire-night")
    seconds = 900.0  # past offline_after_s, and past the fire's raise and clear

    def one_run() -> list[Event]:
        gateway = SimulatedGateway(compound, EDGE, scenario=scenario, start=scenario.start)
        return run_once(compound, [gateway], scenario.start, seconds, tmp_path, tick_s=5.0)

    first = one_run()
    second = one_run()  # its clock starts at the scenario's start again, before the first run's resume point

    smoke = [(e.kind, e.state) for e in first if e.kind is EventKind.SMOKE]
    assert smoke[0] == (EventKind.SMOKE, EventState.RAISED) and smoke[-1] == (EventKind.SMOKE, EventState.CLEARED)
    assert not [e for e in second if e.kind is EventKind.DEVICE_OFFLINE]
    assert judged(second) == judged(first)


def test_a_restart_on_the_same_timeline_does_not_judge_the_previous_runs_samples_again(
    compound: Compound, tmp_path: Path
) -> None:
    """Test that an agent restarted later on the same timeline, whose driver hands it every sample since the
    start again (as the simulated gateway does), raises only what happened after the previous run stopped."""
    device = "b2-u1-1502-smoke"
    early = series(device, 0.5, NIGHT, 20) + series(device, 0.01, NIGHT + timedelta(seconds=20), 60)
    later = NIGHT + timedelta(seconds=300)
    late = series(device, 0.5, later + timedelta(seconds=60), 20)

    first = run_once(compound, [ScriptedDriver(early)], NIGHT, 120, tmp_path, tick_s=1.0)
    assert [(e.kind, e.state) for e in first] == [
        (EventKind.SMOKE, EventState.RAISED),
        (EventKind.SMOKE, EventState.CLEARED),
    ]

    second = run_once(compound, [ScriptedDriver(early + late)], later, 120, tmp_path, tick_s=1.0)

    assert [(e.kind, e.state) for e in second] == [(EventKind.SMOKE, EventState.RAISED)]
    assert second[0].occurred_at > later  # the late fire, not the early one judged again
