"""高空抛物 end to end: a façade clip through a real edge agent's camera pipeline, Mosquitto and the hub, to an alarm
placed at the estimated flat and routed to that unit's micro-grid worker; and the hub's check of the estimate."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from compound import wire
from compound.clock import ScaledClock
from compound.config import Compound
from hub.alarms.service import AlarmService
from hub.db import Database
from hub.ingest import Ingestor
from hub.routing import alarm_place
from hub.snapshots import latest_snapshot
from simulators.camera.facade import FACADE_SCENARIOS
from tests.hub.helpers import HubThread, make_event
from tests.hub.test_snapshots import dead_reasons, event_ids
from tests.servers import MosquittoServer
from tests.support import wait_for

FACADE_CAM = "b1-facade-cam"
SEED = 700_001
DAY_WORKER = {"u1": "p-liu-fang", "u2": "p-chen-jing"}
"""Micro-grid workers on duty 08:00-20:00 for b1's units (configs/people.yaml)."""


FACADE_EXPECTED: dict[str, tuple[set[wire.EventKind], set[wire.EventKind]]] = {
    "facade-throw": ({wire.EventKind.THROWN_OBJECT}, set()),
}
"""The façade scenarios in the scenario library (``tests/system/test_scenario_library.py``): kinds each must and
must not raise, as the test below runs it."""


@pytest.mark.broker
@pytest.mark.slow
def test_facade_throw_reaches_the_hub_at_the_flat_it_came_from(
    compound: Compound, mosquitto: MosquittoServer, hub_db: Database, alarm_service: AlarmService, tmp_path: Path
) -> None:
    """Test that a thrown object seen by the b1 façade camera raises thrown_object at the hub, placed at the
    estimated flat (building, unit, floor, flat), in that unit's micro-grid, routed to its micro-grid worker on duty,
    with the trajectory still and clip stored as its snapshot."""
    from edge.agent import AgentOptions, EdgeAgent

    truth = FACADE_SCENARIOS["facade-throw"](SEED, "heldout").throws[0]
    unit = ("u1", "u2")[truth.column // 4]
    flat = f"{truth.floor * 100 + truth.column % 4 + 1}"
    hub = HubThread(Ingestor(hub_db, compound, host=mosquitto.host, port=mosquitto.port, broker_kind="mosquitto"))
    hub.start()
    try:
        start = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai: the day shift
        clock = ScaledClock(start, speed=0.3)  # slower than real time: a falling object needs every frame, even on a
        # loaded test machine (a camera worker skips the frames it is late for, as with a live stream)
        options = AgentOptions(
            reading_interval_s=0,
            until=start + timedelta(seconds=truth.t0 + 5.0),
            cameras=True,
            camera_sources=((FACADE_CAM, f"sim:facade-throw:{SEED}"),),
        )
        agent = EdgeAgent(
            compound, "b1", [], clock, host=mosquitto.host, port=mosquitto.port, data_dir=tmp_path, options=options
        )
        asyncio.run(asyncio.wait_for(agent.run(), timeout=180))

        def stored() -> int | None:
            alarms = [a for a in alarm_service.list_alarms(state="open") if a.device == FACADE_CAM]
            if len(alarms) != 1 or latest_snapshot(hub_db, event_ids(alarm_service, alarms[0].id)) is None:
                return None
            return alarms[0].id

        alarm_id = wait_for(stored, 30, what="the thrown-object alarm with its snapshot at the hub")
        assert alarm_id is not None
        alarm = alarm_service.get_alarm(alarm_id)
        assert alarm is not None and alarm.kind == "thrown_object" and alarm.severity == "critical"
        loc = alarm.location
        assert (loc.building, loc.unit, loc.floor, loc.flat) == ("b1", unit, truth.floor, flat)
        assert alarm.grid == f"mg-b1-{unit}"
        assert alarm.assignees[0] == DAY_WORKER[unit]
        snap = latest_snapshot(hub_db, event_ids(alarm_service, alarm_id))
        assert snap is not None and cv2.imdecode(np.frombuffer(snap.jpeg, np.uint8), cv2.IMREAD_COLOR) is not None
        assert snap.jpeg.count(b"\xff\xd8\xff") >= 6  # the still, then the clip's frames
        assert dead_reasons(hub_db) == []
    finally:
        hub.stop()


def test_an_estimate_outside_the_building_keeps_the_camera_place(compound: Compound) -> None:
    """Test that the hub uses a thrown object's estimated flat only when it is a real flat of the camera's building."""
    device = compound.devices[FACADE_CAM]
    base = make_event(compound, FACADE_CAM, seq=1, kind=wire.EventKind.THROWN_OBJECT, severity="critical")

    def at(**loc: object) -> wire.Event:
        return base.model_copy(update={"location": wire.Location(**{"building": "b1", **loc})})

    good = alarm_place(compound, device, at(unit="u2", floor=12, flat="1203"))
    assert (good.unit, good.floor, good.flat, compound.grid_of(good)) == ("u2", 12, "1203", "mg-b1-u2")
    for wrong in (
        at(unit="u3", floor=12, flat="1203"),  # b1 has units u1, u2
        at(unit="u1", floor=19, flat="1903"),  # b1 has 18 floors
        at(unit="u1", floor=12, flat="1303"),  # not a flat of floor 12
        base.model_copy(update={"location": wire.Location(building="b2", unit="u1", floor=5, flat="501")}),
    ):
        assert alarm_place(compound, device, wrong) is device
    smoke = base.model_copy(update={"kind": wire.EventKind.SMOKE, "location": wire.Location(building="b1", unit="u1")})
    assert alarm_place(compound, device, smoke) is device
