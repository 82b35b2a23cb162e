"""The site plan and device-health APIs: layout from the config, grid visibility, household rule, faults, CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from compound import wire
from compound.config import Compound
from compound.config.models import Building, BuildingLayout
from hub.alarm_states import AlarmState
from hub.alarms.schemas import AlarmPublic, Location
from hub.web.device_health import EdgeSeen, health_report
from hub.web.siteplan import device_states, site_plan
from tests.hub.helpers import make_event
from tests.hub.web.conftest import WebHub

MANAGER = "p-han-mei"
B2U1_WORKER = "p-wang-li"  # micro-grid worker of mg-b2-u1
B1U1_WORKER = "p-liu-fang"
MAINTENANCE = "p-deng-hao"


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_automatic_layout_places_every_building_and_site_without_overlap(compound: Compound) -> None:
    """Test that with no layout: blocks every building and the kindergarten get disjoint footprints on the plan."""
    plan = site_plan(compound, None)
    ids = [b.id for b in plan.buildings]
    assert ids == ["b1", "b2", "b3", "b4", "kindergarten"]
    boxes = [(b.x - b.width / 2, b.y - b.depth / 2, b.x + b.width / 2, b.y + b.depth / 2) for b in plan.buildings]
    for i, a in enumerate(boxes):
        assert a[0] >= 0 and a[2] <= plan.width and a[1] >= 0 and a[3] <= plan.height
        for b in boxes[i + 1 :]:
            assert not _overlap(a, b)
    b2 = plan.buildings[1]
    assert [u.id for u in b2.units] == ["u1", "u2"] and b2.auto
    assert {(f.kind, f.device) for f in b2.features} == {
        ("lift", "b2-u1-lift1-cam"),
        ("fire_lane", "b2-fire-lane-cam"),
    }
    assert plan.buildings[-1].kind == "kindergarten"
    assert [(f.kind, f.device) for f in plan.buildings[-1].features] == [("gate", "kg-gate")]


def test_a_layout_block_is_kept_and_automatic_ones_go_below_it(compound: Compound) -> None:
    """Test that an explicit layout is used as given and the others are placed clear of it."""
    cfg = compound.compound.model_copy(deep=True)
    cfg.buildings[0] = cfg.buildings[0].model_copy(
        update={"layout": BuildingLayout(x=200, y=100, width=80, depth=20, rotation=30)}
    )
    changed = Compound(
        source=compound.source,
        compound=cfg,
        devices_file=compound.devices_file,
        grids=compound.grids,
        people_file=compound.people_file,
        households_file=compound.households_file,
        escalation=compound.escalation,
        devices=compound.devices,
    )
    plan = site_plan(changed, None)
    b1 = plan.buildings[0]
    assert (b1.x, b1.y, b1.width, b1.depth, b1.rotation, b1.auto) == (200, 100, 80, 20, 30, False)
    assert all(b.y - b.depth / 2 > 100 + 40 for b in plan.buildings[1:])


def test_layout_is_optional_and_checked() -> None:
    """Test that the config's layout block is optional, and a negative position or unknown key is refused."""
    assert Building(id="b9", name="9号楼", units=["u1"], floors=6, flats_per_floor=2).layout is None
    with pytest.raises(ValidationError):
        BuildingLayout.model_validate({"x": -1, "y": 0})
    with pytest.raises(ValidationError):
        BuildingLayout.model_validate({"x": 1, "y": 0, "heading": 3})


def test_a_micro_grid_worker_sees_only_their_units(web: WebHub) -> None:
    """Test that the plan, a building and the device list hold only the caller's grid."""
    plan = web.client.get("/api/v1/siteplan", headers=web.auth(B2U1_WORKER)).json()
    assert [b["id"] for b in plan["buildings"]] == ["b2"]
    assert [u["id"] for u in plan["buildings"][0]["units"]] == ["u1"]
    assert {f["device"] for f in plan["buildings"][0]["features"]} == {"b2-u1-lift1-cam"}
    building = web.client.get("/api/v1/siteplan/buildings/b2", headers=web.auth(B2U1_WORKER)).json()
    assert [u["id"] for u in building["units"]] == ["u1"]
    assert building["other"] == []
    assert web.client.get("/api/v1/siteplan/buildings/b1", headers=web.auth(B2U1_WORKER)).status_code == 404
    assert web.client.get("/api/v1/siteplan/flats/b2/u2/1502", headers=web.auth(B2U1_WORKER)).status_code == 404
    health = web.client.get("/api/v1/device-health", headers=web.auth(B2U1_WORKER)).json()
    assert health["devices"] and {(d["building"], d["unit"]) for d in health["devices"]} == {("b2", "u1")}


def test_building_floors_show_the_alarm_on_its_flat(web: WebHub) -> None:
    """Test that a smoke alarm at 1502 marks that flat's detector, top floor first."""
    alarm_id = web.raise_alarm("b2-u1-1502-smoke")
    building = web.client.get("/api/v1/siteplan/buildings/b2", headers=web.auth(MANAGER)).json()
    u1 = building["units"][0]
    assert [r["floor"] for r in u1["floors"]][:2] == [24, 23]
    floor15 = next(r for r in u1["floors"] if r["floor"] == 15)
    assert [f["flat"] for f in floor15["flats"]] == ["1501", "1502", "1503", "1504"]
    cell = floor15["flats"][1]
    smoke = next(d for d in cell["devices"] if d["id"] == "b2-u1-1502-smoke")
    assert smoke["state"] == {
        "status": "alarm",
        "alarm_id": alarm_id,
        "kind": "smoke",
        "severity": "critical",
        "state": smoke["state"]["state"],
    }
    assert all(d["state"]["status"] == "ok" for d in floor15["flats"][0]["devices"])
    assert [d["type"] for d in floor15["common"]] == ["door_contact"]  # the floor's fire door
    assert {d["id"] for d in building["other"]} == {"b2-fire-lane-cam"}


def test_flat_household_only_for_those_responsible(web: WebHub) -> None:
    """Test that the flat view carries the household for its micro-grid worker and a manager, not maintenance."""
    alarm_id = web.raise_alarm("b2-u1-1502-smoke")
    for person, shown in ((MANAGER, True), (B2U1_WORKER, True), (MAINTENANCE, False)):
        flat = web.client.get("/api/v1/siteplan/flats/b2/u1/1502", headers=web.auth(person)).json()
        assert (flat["household"] is not None) is shown, person
        assert [a["id"] for a in flat["history"]] == [alarm_id]
        assert {d["id"] for d in flat["devices"]} >= {"b2-u1-1502-smoke", "b2-u1-1502-gas"}
    assert web.client.get("/api/v1/siteplan/flats/b2/u1/2501", headers=web.auth(MANAGER)).status_code == 404
    assert web.client.get("/api/v1/siteplan/flats/b2/u9/1502", headers=web.auth(MANAGER)).status_code == 404
    assert web.client.get("/api/v1/siteplan").status_code == 401


def test_device_health_lists_a_dying_detector_and_exports_csv(web: WebHub) -> None:
    """Test that a low_battery alarm makes its detector 'low_battery' in the report, the counts and the CSV."""
    web.seq += 1
    web.feed(
        make_event(
            web.compound,
            "b4-u3-2304-smoke",
            seq=web.seq,
            kind=wire.EventKind.LOW_BATTERY,
            severity=wire.Severity.INFO,
            value=12,
            at=datetime.now(UTC),
        )
    )
    report = web.client.get("/api/v1/device-health", headers=web.auth(MAINTENANCE)).json()
    dying = next(d for d in report["devices"] if d["id"] == "b4-u3-2304-smoke")
    assert dying["status"] == "low_battery" and dying["value"] == 12 and len(dying["alarm_ids"]) == 1
    count = next(c for c in report["counts"] if c["building"] == "b4" and c["type"] == "smoke_detector")
    assert count["low_battery"] == 1
    assert {e["edge"] for e in report["edges"]} == {"b1", "b2", "b3", "b4", "kg"}
    response = web.client.get("/api/v1/device-health.csv?status=low_battery", headers=web.auth(MAINTENANCE))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert [(r["id"], r["status"], r["value"]) for r in rows] == [("b4-u3-2304-smoke", "low_battery", "12.0")]
    edges = web.client.get("/api/v1/device-health/edges", headers=web.auth(MAINTENANCE)).json()
    assert len(edges) == 5


def _alarm(alarm_id: int, device: str, kind: str, severity: str, state: AlarmState = AlarmState.RAISED) -> AlarmPublic:
    now = datetime(2026, 11, 29, tzinfo=UTC)
    return AlarmPublic(
        id=alarm_id,
        kind=kind,
        severity=severity,
        state=state,
        device=device,
        location=Location(building="b1"),
        grid="mg-b1-u1",
        assignees=[],
        raised_at=now,
        edge="b1",
        updated_at=now,
        value=10.0,
    )


def test_worst_alarm_decides_a_device_state() -> None:
    """Test that a critical alarm outranks a fault at the same device, and a fault alone reads 'fault'."""
    states = device_states(
        [
            _alarm(1, "d1", "low_battery", "info"),
            _alarm(2, "d1", "smoke", "critical"),
            _alarm(3, "d2", "stuck_value", "warning"),
        ]
    )
    assert (states["d1"].status, states["d1"].alarm_id) == ("alarm", 2)
    assert states["d2"].status == "fault"


def test_stale_and_offline_edges(compound: Compound) -> None:
    """Test the edge rules: an edge that said offline takes its devices offline; silence past 2 intervals is stale."""
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    report = health_report(
        compound,
        now=now,
        edges=[
            EdgeSeen(edge="b1", status="online", last_seen_at=now - timedelta(seconds=30)),
            EdgeSeen(edge="b2", status="offline", last_seen_at=now - timedelta(seconds=30)),
            EdgeSeen(edge="b3", status="online", last_seen_at=now - timedelta(minutes=10)),
        ],
        open_alarms=[],
        last_events={},
        grids=None,
    )
    by_edge = {d.edge: d.status for d in report.devices}
    assert by_edge["b1"] == "online" and by_edge["b2"] == "offline" and by_edge["b3"] == "stale"
    assert by_edge["b4"] == "stale"  # never heard of
    offline = {e.edge: e.offline for e in report.edges}
    assert offline == {"b1": False, "b2": True, "b3": True, "b4": False, "kg": False}


def test_a_tracked_sensor_is_judged_by_its_own_reports_and_edge_offline_alarms_count(compound: Compound) -> None:
    """Test that with the supervisor's device_seen a silent sensor is stale though its edge talks, and that an open
    edge_offline alarm takes the edge and its devices offline."""
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    fresh = now - timedelta(seconds=20)
    report = health_report(
        compound,
        now=now,
        edges=[EdgeSeen(edge="b1", status="online", last_seen_at=fresh)],
        open_alarms=[_alarm(7, "b3", "edge_offline", "warning")],
        last_events={},
        grids=None,
        device_seen={"b1-u1-101-smoke": fresh},
    )
    status = {d.id: d.status for d in report.devices}
    assert status["b1-u1-101-smoke"] == "online"
    assert status["b1-u1-102-smoke"] == "stale"  # its edge talks, the detector does not
    assert status["b3-u1-101-smoke"] == "offline"
    assert {e.edge for e in report.edges if e.offline} == {"b3"}
    assert next(e for e in report.edges if e.edge == "kg").names == ["阳光幼儿园"]
