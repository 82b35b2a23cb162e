"""Each escalation step is taken exactly once: across a hub killed mid-step (SIGKILL, a real process) and across
two hubs dispatching at the same time on one PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from compound.config import Compound
from hub.db import Alarm, Database, EscalationStep
from hub.notify.cards import CardMaker
from hub.notify.dispatcher import LEASE_S, Dispatcher
from tests.hub.notify.helpers import Bench
from tests.hub.test_postgres import postgres_url  # noqa: F401  (fixture)

SMOKE = "b2-u1-1502-smoke"

_KILLED_HUB = textwrap.dedent(
    """
    import sys, threading
    from datetime import datetime
    from compound.clock import ManualClock
    from compound.config import load_config
    from hub.db import Database
    from hub.notify.cards import CardMaker
    from hub.notify.channels.base import DeliveryResult
    from hub.notify.dispatcher import Dispatcher
    from tests.hub.notify.helpers import Bench, RecordingChannel, RecordingConfig

    url, at = sys.argv[1], datetime.fromisoformat(sys.argv[2])
    compound = load_config()
    db = Database(url)
    bench = Bench(db, compound)
    hang = threading.Event()

    def stuck(message):
        print("sending", flush=True)
        hang.wait()
        return DeliveryResult(ok=True)

    channels = {cid: RecordingChannel(ch.config, stuck) for cid, ch in bench.channels.items()}
    clock = ManualClock(at)
    Dispatcher(db, compound, channels, bench.service.escalation, CardMaker(compound, "https://hub.example"),
               clock=clock, hub_id="doomed").tick()
    """
)


def _steps(db: Database) -> list[EscalationStep]:
    with db.session() as session:
        steps = list(session.scalars(select(EscalationStep).order_by(EscalationStep.id)))
        session.expunge_all()
        return steps


def test_hub_killed_between_levels_fires_the_next_level_once(
    hub_db: Database, compound: Compound, tmp_path: Path
) -> None:
    """Test that a hub SIGKILLed while sending level 1 leaves the step taken and its jobs written, and that the
    restarted hub sends each level-1 job (once its lease runs out) without taking the step or writing the jobs
    again."""
    bench = Bench(hub_db, compound)
    bench.raise_event(SMOKE)
    bench.tick()
    bench.tick(30)  # the level-0 reminder
    bench.clock.advance(30)  # level 1 is due now
    root = Path(__file__).resolve().parents[3]
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_HUB, str(hub_db.url), bench.clock.now().isoformat()],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        # Two sends may print at once ("sendingsending"): any line naming a send means the hub is mid-send.
        assert proc.stdout is not None and "sending" in proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
    [alarm_id] = {j.alarm_id for j in bench.jobs()}
    level1 = [j for j in bench.jobs(alarm_id) if j.level == 1]
    assert level1 and {j.state for j in level1} == {"sending"} and {j.claimed_by for j in level1} == {"doomed"}
    bench.tick(1)  # restarted hub: the lease still holds, nothing is sent twice yet
    assert {j.state for j in bench.jobs(alarm_id) if j.level == 1} == {"sending"}
    bench.tick(LEASE_S + 1)
    level1 = [j for j in bench.jobs(alarm_id) if j.level == 1]
    assert {j.state for j in level1} == {"delivered"} and {j.claimed_by for j in level1} == {"test-hub"}
    taken = [s for s in _steps(hub_db) if (s.level, s.repeat) == (1, 0)]
    assert [(s.state, s.taken_by) for s in taken] == [("done", "doomed")]
    keys = [j.job_key for j in bench.jobs(alarm_id)]
    assert len(keys) == len(set(keys))


@pytest.mark.slow
def test_two_hubs_on_postgresql_take_every_step_once(postgres_url: str, compound: Compound) -> None:  # noqa: F811
    """Test that two dispatchers ticking at the same time on one PostgreSQL, while the clock walks a fire alarm
    through every level, take each step once and write each job once."""
    db = Database(postgres_url)
    db.create()
    try:
        bench = Bench(db, compound)
        other = Dispatcher(
            db,
            compound,
            bench.channels,
            bench.service.escalation,
            CardMaker(compound, "https://hub.example"),
            clock=bench.clock,
            hub_id="second-hub",
        )
        bench.raise_event(SMOKE)
        for _ in range(40):
            bench.clock.advance(15)
            threads = [threading.Thread(target=d.tick) for d in (bench.dispatcher, other)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
        steps = [s for s in _steps(db) if s.state == "done"]
        assert len(steps) >= 5 and len({s.id for s in steps}) == len(steps)
        assert {s.taken_by for s in steps} <= {"test-hub", "second-hub"}
        pairs = Counter((s.action, s.level, s.repeat) for s in steps)
        assert max(pairs.values()) == 1, f"a step was taken twice: {pairs}"
        jobs = bench.jobs()
        assert len({j.job_key for j in jobs}) == len(jobs)
        assert {j.level for j in jobs} == {0, 1, 2, 3}
        with db.session() as session:
            assert session.scalar(select(Alarm.escalation_level)) == 3
        assert {j.state for j in jobs} <= {"delivered", "cancelled"}
    finally:
        db.dispose()
