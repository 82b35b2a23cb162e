"""Escalation on an injected clock: who is told, when the next level is told, and what stops it.

The compound is configs/ (the sample): a smoke alarm in 2号楼 1单元 1502 at 02:00 is routed to the night
micro-grid worker p-li-qiang and security p-song-kai; its grid chain is mg-b2-u1 → g-north (leader
p-gao-ming) → g-total (full-time grid worker p-xu-hong). The default fire/gas policy: level 0 reminded after
30 s, level 1 at 60 s, level 2 at 120 s, level 3 (property manager) at 240 s; on site due 180 s after the
acknowledgement.
"""

from __future__ import annotations

from sqlalchemy import select

from compound.config import Compound
from hub.db import Alarm, Database, EscalationStep
from tests.hub.notify.helpers import Bench

SMOKE = "b2-u1-1502-smoke"


def _alarm(bench: Bench) -> Alarm:
    with bench.db.session() as session:
        alarm = session.scalars(select(Alarm).order_by(Alarm.id.desc())).first()
        assert alarm is not None
        session.expunge(alarm)
        return alarm


def _people(told: set[tuple[str | None, str]]) -> set[str | None]:
    return {person for person, _ in told}


def test_nobody_acknowledges_the_chain_climbs_the_grid(hub_db: Database, compound: Compound) -> None:
    """Test that with nobody acknowledging, level 0 is told at once and reminded at 30 s, the grid leader is told
    at 60 s and the full-time grid worker at 120 s, each exactly once, and the alarm is notified on delivery."""
    bench = Bench(hub_db, compound)
    bench.raise_event(SMOKE)
    alarm = _alarm(bench)
    assert alarm.state == "raised" and alarm.policy == "fire-gas"
    report = bench.tick()
    assert report.delivered == 4  # two people × (webpush, inbox)
    assert _people(bench.told(alarm.id, 0)) == {"p-li-qiang", "p-song-kai"}
    assert _alarm(bench).state == "notified"
    bench.tick(29)
    assert not bench.told(alarm.id, 0, 1)
    bench.tick(1)
    assert _people(bench.told(alarm.id, 0, 1)) == {"p-li-qiang", "p-song-kai"}
    bench.tick(30)
    assert _people(bench.told(alarm.id, 1)) == {"p-gao-ming"}
    assert _alarm(bench).escalation_level == 1
    bench.tick(60)
    assert _people(bench.told(alarm.id, 2)) == {"p-xu-hong"}
    bench.tick(1)
    bench.tick(1)
    keys = [j.job_key for j in bench.jobs(alarm.id)]
    assert len(keys) == len(set(keys)) == 4 + 4 + 2 + 2


def test_acknowledge_stops_it_and_not_on_site_resumes(hub_db: Database, compound: Compound) -> None:
    """Test that acknowledging stops the chain, that nobody on site 180 s later resumes it at the next level, and
    that marking on site stops it again."""
    bench = Bench(hub_db, compound)
    bench.raise_event(SMOKE)
    bench.tick()
    alarm = _alarm(bench)
    bench.tick(10)
    bench.service.acknowledge(alarm.id, "p-li-qiang")
    for _ in range(17):
        bench.tick(10)
    assert not bench.told(alarm.id, 0, 1) and not bench.told(alarm.id, 1)
    bench.tick(10)  # 190 s: on site was due at 10 + 180
    assert _people(bench.told(alarm.id, 1)) == {"p-gao-ming"}
    bench.service.on_site(alarm.id, "p-li-qiang", "到场，厨房冒烟，已关燃气")
    for _ in range(30):
        bench.tick(10)
    assert not bench.told(alarm.id, 2)
    with hub_db.session() as session:
        pending = session.scalars(select(EscalationStep).where(EscalationStep.state == "pending")).all()
    assert pending == []


def test_off_duty_worker_is_covered_by_the_stand_in(hub_db: Database, compound: Compound) -> None:
    """Test that a kindergarten kitchen fire at 02:00, when its micro-grid worker (p-tang-li, weekdays 07–19) is
    off duty, is sent at level 0 to the stand-in on duty for that grid (full-time grid worker p-xu-hong)."""
    bench = Bench(hub_db, compound)
    bench.raise_event("kg-kitchen-smoke")
    bench.tick()
    alarm = _alarm(bench)
    told = _people(bench.told(alarm.id, 0))
    assert "p-xu-hong" in told and "p-tang-li" not in told
    detail = bench.service.get_alarm(alarm.id)
    assert detail is not None and any("no micro_grid_worker on duty" in r for r in detail.routing["reasons"])
