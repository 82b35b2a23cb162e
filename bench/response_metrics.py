"""How long ``GET /api/v1/metrics/response`` takes to compute: N alarms in a SQLite file, each with its history
(raise, acknowledge, on site, resolve) and level-0 jobs, some escalated to level 1, some drills; then
``response_metrics`` over the whole period, for everyone and for one micro-grid worker's grids.

    .venv/bin/python bench/response_metrics.py [--alarms 10000] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from compound.config.loader import load_config
from hub.alarm_states import AlarmState
from hub.alarms.access import visible_grids
from hub.db import Alarm, AlarmHistory, Database, NotificationJob, default_url
from hub.notify.metrics import response_metrics

START = datetime(2026, 11, 1, tzinfo=UTC)


def fill(db: Database, alarms: int, seed: int = 7) -> None:
    compound = load_config(Path(__file__).resolve().parents[1] / "configs")
    rng = random.Random(seed)
    grids = [g.id for g in compound.grids.micro]
    workers = [p.id for p in compound.people.values() if p.role.value == "micro_grid_worker"]
    with db.session() as session:
        for i in range(alarms):
            raised = START + timedelta(seconds=i * 60)
            ack = raised + timedelta(seconds=rng.uniform(5, 120))
            site = ack + timedelta(seconds=rng.uniform(30, 300)) if rng.random() < 0.6 else None
            resolved = (site or ack) + timedelta(seconds=rng.uniform(60, 100000)) if rng.random() < 0.9 else None
            state = AlarmState.RESOLVED if resolved else AlarmState.ON_SITE if site else AlarmState.ACKNOWLEDGED
            alarm = Alarm(
                kind="smoke" if i % 3 else "door_forced",
                severity="critical",
                state=state,
                compound=compound.id,
                edge="b1",
                device=f"bench-{i}",
                building="b1",
                grid=rng.choice(grids),
                raised_event_id=f"e{i}",
                raised_at=raised,
                acknowledged_at=ack,
                on_site_at=site,
                resolved_at=resolved,
                updated_at=resolved or site or ack,
                policy="fire-gas" if i % 3 else "default",
                escalation_level=0,
                drill=i % 50 == 0,
            )
            who = rng.choice(workers)
            alarm.history = [
                AlarmHistory(at=raised, actor="edge:b1", action="raise", from_state=None, to_state=AlarmState.RAISED),
                AlarmHistory(
                    at=ack,
                    actor=who,
                    action="acknowledge",
                    from_state=AlarmState.RAISED,
                    to_state=AlarmState.ACKNOWLEDGED,
                ),
            ]
            session.add(alarm)
            session.flush()
            for level in (0, 1) if ack - raised > timedelta(seconds=60) else (0,):
                session.add(
                    NotificationJob(
                        job_key=f"{alarm.id}:{level}",
                        alarm_id=alarm.id,
                        level=level,
                        purpose="alert",
                        person_id=who,
                        channel="inbox",
                        created_at=raised + timedelta(seconds=60 * level),
                        due_at=raised + timedelta(seconds=60 * level),
                    )
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alarms", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    compound = load_config(Path(__file__).resolve().parents[1] / "configs")
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(default_url(Path(tmp)))
        db.create()
        t0 = time.perf_counter()
        fill(db, args.alarms)
        fill_s = time.perf_counter() - t0
        end = START + timedelta(days=400)
        worker = visible_grids(compound.people["p-li-qiang"], compound)
        figures: dict[str, float] = {}
        for label, grids in (("everyone", None), ("micro-grid worker", worker)):
            runs = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                report = response_metrics(db, compound, START, end, grids=grids)
                runs.append(time.perf_counter() - t0)
            figures[label] = statistics.median(runs)
            figures[f"{label} alarms"] = report.total.alarms + report.total.drills
        db.dispose()
    out = {"alarms": args.alarms, "fill_s": round(fill_s, 2), **{k: round(v, 3) for k, v in figures.items()}}
    if args.json:
        print(json.dumps(out))
        return
    print(f"{args.alarms} alarms written in {fill_s:.1f} s")
    for label in ("everyone", "micro-grid worker"):
        alarms = int(figures[f"{label} alarms"])
        print(f"{label:>18}: {figures[label] * 1000:8.0f} ms for {alarms} alarms (median of {args.repeat})")


if __name__ == "__main__":
    main()
