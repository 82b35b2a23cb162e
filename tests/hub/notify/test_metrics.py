"""Response metrics on a manual clock: alarms raised, acknowledged, marked on site and resolved through the hub's
own pipeline, service and dispatcher (``Bench``), then measured per grid and per worker.

Five smoke alarms in 2号楼1单元 (grid mg-b2-u1, fire-gas policy: level 1 at 60 s, on site due 180 s after the
acknowledgement), one after the other (each resolved before the next, so each is its own incident), with
(acknowledged, on site, resolved) seconds after the raise:

    A1 (10, 70, 170)      李强   on site 60 s after ack: in time
    A2 (20, 120, 400)     李强   100 s: in time
    A3 (30, 230, 600)     李强   200 s: late
    A4 (40, —, 90040)     王丽   closed after more than 24 h
    A5 (70, —, open)      王丽   acknowledged after level 1 was told at 60 s

plus a drill in the same grid and a door alarm in 3号楼1单元 (grid mg-b3-u1, default policy: no on-site clock).
Nearest rank: acknowledge [10, 20, 30, 40, 70] → p50 30, p90 70; on site [70, 120, 230] → 120, 230;
resolve [170, 400, 600, 90040] → 400, 90040.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from compound.config import Compound
from hub.db import Alarm, Database, Silence
from hub.notify.metrics import ResponseReport, ResponseRow, nearest_rank, response_metrics
from hub.web import TokenSigner, WebContext, create_app
from tests.hub.helpers import NIGHT
from tests.hub.notify.helpers import Bench
from tests.hub.web.conftest import ServedApp

SMOKES = [f"b2-u1-{flat}-smoke" for flat in ("101", "201", "301", "401", "501")]
DRILL = "b2-u1-601-smoke"
DOOR = "b3-u1-entrance"
SECRET = "test-secret-key-for-metrics-0123456789"


def _latest(bench: Bench) -> int:
    with bench.db.session() as session:
        alarm_id = session.scalar(select(Alarm.id).order_by(Alarm.id.desc()).limit(1))
    assert alarm_id is not None
    return alarm_id


def _wait(bench: Bench, seconds: int, *, tick: bool = True) -> None:
    """Let ``seconds`` pass, the dispatcher taking due steps every 10 s (so escalation happens on time)."""
    if not tick:
        bench.clock.advance(seconds)
        return
    for _ in range(seconds // 10):
        bench.tick(10)
    bench.tick(seconds % 10)


def _alarm(
    bench: Bench,
    device: str,
    by: str,
    ack: int,
    on_site: int | None,
    resolve: int | None,
    kind: str = "smoke",
    severity: str = "critical",
) -> int:
    bench.raise_event(device, kind=kind, severity=severity)
    alarm_id = _latest(bench)
    bench.tick()
    _wait(bench, ack)
    bench.service.acknowledge(alarm_id, by)
    now = ack
    if on_site is not None:
        _wait(bench, on_site - now)
        bench.service.on_site(alarm_id, by, "到场")
        now = on_site
    if resolve is not None:
        _wait(bench, resolve - now, tick=resolve - now <= 600)
        bench.service.resolve(alarm_id, by, "已处理")
    return alarm_id


@pytest.fixture
def bench(hub_db: Database, compound: Compound) -> Bench:
    bench = Bench(hub_db, compound)
    # A drill first: a drill silence on one detector marks its alarm 演练.
    with hub_db.session() as session:
        now = bench.clock.now()
        session.add(
            Silence(
                device=DRILL,
                starts_at=now,
                ends_at=now + timedelta(minutes=5),
                reason="消防演练",
                author="p-han-mei",
                drill=True,
                created_at=now,
            )
        )
    _alarm(bench, DRILL, "p-li-qiang", 5, 8, 9)
    _wait(bench, 400, tick=False)  # past the drill silence
    _alarm(bench, SMOKES[0], "p-li-qiang", 10, 70, 170)
    _alarm(bench, SMOKES[1], "p-li-qiang", 20, 120, 400)
    _alarm(bench, SMOKES[2], "p-li-qiang", 30, 230, 600)
    _alarm(bench, SMOKES[3], "p-wang-li", 40, None, 90040)
    _alarm(bench, SMOKES[4], "p-wang-li", 70, None, None)
    _alarm(bench, DOOR, "p-huang-wei", 5, None, 50, kind="door_forced", severity="warning")
    bench.clock.advance(1)
    return bench


def _report(bench: Bench, grids: set[str] | None = None) -> ResponseReport:
    return response_metrics(bench.db, bench.compound, NIGHT, bench.clock.now(), grids=grids)


def _row(rows: list[ResponseRow], key: str) -> ResponseRow:
    found = [r for r in rows if r.key == key]
    assert len(found) == 1, [r.key for r in rows]
    return found[0]


def test_nearest_rank() -> None:
    """Test that the quantiles are the nearest-rank ones: an observed value at rank ceil(p·n)."""
    assert nearest_rank([], 0.5) is None
    assert nearest_rank([7.0], 0.9) == 7.0
    assert nearest_rank([50, 10, 40, 20, 30], 0.5) == 30
    assert nearest_rank([50, 10, 40, 20, 30], 0.9) == 50
    assert nearest_rank([1, 2, 3, 4], 0.5) == 2
    assert nearest_rank(list(range(1, 11)), 0.9) == 9


def test_grid_figures_are_exact_and_drills_left_out(bench: Bench) -> None:
    """Test p50/p90 of the three times and the three shares of a grid, with its drill counted apart."""
    report = _report(bench)
    grid = _row(report.grids, "mg-b2-u1")
    assert grid.name == "2号楼1单元微网格"
    assert (grid.alarms, grid.drills, grid.acknowledged, grid.on_site, grid.resolved) == (5, 1, 5, 3, 4)
    assert (grid.ack_p50_s, grid.ack_p90_s) == (30, 70)
    assert (grid.on_site_p50_s, grid.on_site_p90_s) == (120, 230)
    assert (grid.resolve_p50_s, grid.resolve_p90_s) == (400, 90040)
    assert (grid.ack_level1, grid.ack_level1_share) == (4, 0.8)
    assert (grid.on_site_policy_alarms, grid.on_site_in_time, grid.on_site_in_time_share) == (5, 2, 0.4)
    assert (grid.closed_24h, grid.closed_24h_share) == (3, 0.6)

    door = _row(report.grids, "mg-b3-u1")
    assert (door.alarms, door.drills, door.on_site_policy_alarms, door.on_site_in_time_share) == (1, 0, 0, None)
    assert (door.ack_p50_s, door.resolve_p50_s, door.closed_24h_share) == (5, 50, 1.0)

    total = report.total
    assert (total.alarms, total.drills) == (6, 1)
    assert (total.ack_p50_s, total.ack_p90_s) == (20, 70)  # [5, 10, 20, 30, 40, 70]


def test_worker_rows_credit_who_acknowledged(bench: Bench) -> None:
    """Test that each worker's row holds the alarms they acknowledged (the drill counted apart, for 李强)."""
    report = _report(bench)
    assert [w.key for w in report.workers] == ["p-huang-wei", "p-li-qiang", "p-wang-li"]
    li = _row(report.workers, "p-li-qiang")
    assert (li.name, li.alarms, li.drills) == ("李强", 3, 1)
    assert (li.ack_p50_s, li.ack_p90_s, li.on_site_in_time) == (20, 30, 2)
    assert (li.ack_level1_share, li.closed_24h_share) == (1.0, 1.0)
    wang = _row(report.workers, "p-wang-li")
    assert (wang.alarms, wang.drills, wang.ack_level1, wang.closed_24h, wang.resolved) == (2, 0, 1, 0, 1)


def test_level1_ignores_escalation_resumed_after_the_acknowledgement(bench: Bench) -> None:
    """Test that A3, acknowledged at 30 s but late on site (escalation resumed at level 1 after it), still counts
    as acknowledged within level 1: what matters is what was told before the acknowledgement."""
    with bench.db.session() as session:
        a3 = session.scalars(select(Alarm).where(Alarm.device == SMOKES[2])).one()
        a3_id = a3.id
        assert a3.acknowledged_at is not None
    resumed = [j for j in bench.jobs(a3_id) if j.level >= 1]
    assert resumed and all(j.created_at > a3.acknowledged_at for j in resumed)  # told at 210 s, after the ack
    li = _row(_report(bench).workers, "p-li-qiang")
    assert li.ack_level1 == 3


def test_period_is_half_open(bench: Bench) -> None:
    """Test that the period is [from, to): an alarm raised exactly at ``to`` is not in it, one at ``from`` is."""
    with bench.db.session() as session:
        first = session.scalars(select(Alarm).where(Alarm.device == SMOKES[0])).one()
        raised = first.raised_at
    before = response_metrics(bench.db, bench.compound, raised - timedelta(hours=1), raised)
    assert before.total.drills == 1 and before.total.alarms == 0
    from_it = response_metrics(bench.db, bench.compound, raised, raised + timedelta(seconds=1))
    assert from_it.total.alarms == 1


# ---------------------------------------------------------------- the routes


@pytest.fixture
def client(bench: Bench) -> Iterator[httpx.Client]:
    context = WebContext(compound=bench.compound, service=bench.service, signer=TokenSigner(SECRET))
    served = ServedApp(create_app(context)).start()
    try:
        with httpx.Client(base_url=served.url, timeout=20.0) as http:
            yield http
    finally:
        served.stop()


def _auth(bench: Bench, person: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TokenSigner(SECRET).issue_for(bench.compound, person)}"}


def _params(bench: Bench, **extra: str) -> dict[str, str]:
    return {"from": NIGHT.isoformat(), "to": bench.clock.now().isoformat(), **extra}


def test_route_shows_only_the_grids_a_person_sees(client: httpx.Client, bench: Bench) -> None:
    """Test that a micro-grid worker of 2号楼 gets only its grid (and the workers of its alarms), a property
    manager every grid, and that asking for a grid one does not see gives nothing."""
    worker = client.get("/api/v1/metrics/response", params=_params(bench), headers=_auth(bench, "p-li-qiang"))
    assert worker.status_code == 200, worker.text
    body = worker.json()
    assert [g["key"] for g in body["grids"]] == ["mg-b2-u1"]
    assert {w["key"] for w in body["workers"]} == {"p-li-qiang", "p-wang-li"}
    assert body["total"]["alarms"] == 5 and body["total"]["drills"] == 1
    assert body["from"] and body["to"]

    manager = client.get("/api/v1/metrics/response", params=_params(bench), headers=_auth(bench, "p-han-mei"))
    assert [g["key"] for g in manager.json()["grids"]] == ["mg-b2-u1", "mg-b3-u1"]

    south = client.get(
        "/api/v1/metrics/response", params=_params(bench, grid="g-south"), headers=_auth(bench, "p-li-qiang")
    )
    assert south.status_code == 200 and south.json()["grids"] == [] and south.json()["total"]["alarms"] == 0
    north = client.get(
        "/api/v1/metrics/response", params=_params(bench, grid="g-north"), headers=_auth(bench, "p-han-mei")
    )
    assert [g["key"] for g in north.json()["grids"]] == ["mg-b2-u1"]


def test_route_refuses_bad_periods_and_strangers(client: httpx.Client, bench: Bench) -> None:
    """Test 401 without a credential and 422 for an empty or too long period or an unknown grid."""
    assert client.get("/api/v1/metrics/response").status_code == 401
    assert client.get("/api/v1/metrics/response.csv").status_code == 401
    h = _auth(bench, "p-han-mei")
    now = bench.clock.now()
    empty = {"from": now.isoformat(), "to": now.isoformat()}
    assert client.get("/api/v1/metrics/response", params=empty, headers=h).status_code == 422
    long = {"from": (now - timedelta(days=500)).isoformat(), "to": now.isoformat()}
    assert client.get("/api/v1/metrics/response", params=long, headers=h).status_code == 422
    assert client.get("/api/v1/metrics/response", params={"grid": "nowhere"}, headers=h).status_code == 422


def test_naive_times_are_the_compounds(client: httpx.Client, bench: Bench) -> None:
    """Test that a time without an offset (what a datetime-local picker sends) is read in the compound's zone."""
    local = NIGHT.astimezone(bench.compound.tz).replace(tzinfo=None)
    r = client.get(
        "/api/v1/metrics/response",
        params={"from": local.isoformat(), "to": (local + timedelta(days=3)).isoformat()},
        headers=_auth(bench, "p-han-mei"),
    )
    assert r.status_code == 200 and r.json()["total"]["alarms"] == 6


def test_csv_export_is_audited(client: httpx.Client, bench: Bench) -> None:
    """Test that the CSV has a total, grid and worker rows with the JSON's figures, and that it is audit-logged."""
    h = _auth(bench, "p-han-mei")
    r = client.get("/api/v1/metrics/response.csv", params=_params(bench), headers=h)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [(x["scope"], x["key"]) for x in rows] == [
        ("total", "total"),
        ("grid", "mg-b2-u1"),
        ("grid", "mg-b3-u1"),
        ("worker", "p-huang-wei"),
        ("worker", "p-li-qiang"),
        ("worker", "p-wang-li"),
    ]
    grid = rows[1]
    assert (grid["ack_p50_s"], grid["ack_p90_s"], grid["ack_level1_share"], grid["on_site_p50_s"]) == (
        "30",
        "70",
        "0.8",
        "120",
    )
    assert grid["drills"] == "1" and grid["name"] == "2号楼1单元微网格"
    audit = client.get("/api/v1/audit", params={"action": "export"}, headers=h).json()
    assert len(audit) == 1 and audit[0]["actor"] == "p-han-mei" and audit[0]["target"] == "metrics:response"
