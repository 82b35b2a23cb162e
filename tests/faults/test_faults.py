"""The fault suite: each fault of the reliability table, injected mid-stream into a compound run as real processes,
loses no event and raises no alarm twice (``tests/faults/harness.py`` runs the row; README, "Reliability").

No timing is asserted: the worst delay of each row is measured and printed (``bench/faults.py`` prints the
table), not bounded here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.db import Database, EventRecord, default_url
from tests.faults.harness import ROWS, MountRefused, Result, run_row
from tests.support import needs_root_mount

pytestmark = [pytest.mark.slow, pytest.mark.broker, pytest.mark.timeout(240)]

MARKS = {"tsdb-down": [pytest.mark.influx]}
SPECIAL = ("baseline", "disk-full", "clock-skew")
"""Rows with a test of their own below (the baseline is measured by bench/faults.py only)."""


def check(result: Result) -> None:
    """Nothing lost, nothing doubled, and the row proves something (events were raised around the fault)."""
    print(
        f"{result.key}: raised {result.raised}, stored {result.stored}, lost {result.lost}, "
        f"duplicate alarms {result.duplicate_alarms}, worst delay {result.worst_delay_s} s ({result.note})"
    )
    assert result.raised >= 20, f"only {result.raised} event(s) raised: the edges did not stream"
    assert result.lost == 0, f"{result.lost} event(s) lost: {result.missing}"
    assert result.stored == result.raised
    assert result.settled_live, "every event reached the hub while the edges ran, not only when they were stopped"
    assert result.duplicate_alarms == 0, f"{result.duplicate_alarms} duplicate alarm(s) of {result.alarms}"
    assert result.alarms == result.incidents, "one alarm per incident (a detector's puff)"


@pytest.mark.parametrize("key", [pytest.param(k, marks=MARKS.get(k, []), id=k) for k in ROWS if k not in SPECIAL])
def test_fault_loses_nothing_and_doubles_no_alarm(key: str, tmp_path: Path) -> None:
    """Test that the row's fault, injected a quarter of the way into a steady stream of smoke incidents, leaves
    every event the edges raised stored once at the hub and one alarm per incident."""
    result = run_row(ROWS[key], tmp_path / key)
    check(result)
    assert result.dead_letters == 0, "no event or reading was refused by the hub"
    if result.readings is not None:  # the time-series row: every reading the hub received reached the server
        assert result.readings["written"] == result.readings["received"] > 0, result.readings


def test_edge_disk_full_keeps_events_in_memory_and_reports_it(tmp_path: Path) -> None:
    """Test that an edge whose data disk (a small tmpfs) fills mid-stream says so in its log, keeps the events it
    could not journal in memory, journals them once space returns, and loses none of them: 'nothing lost' on a
    full disk means every event the rules decided is either journaled or held in memory (bounded, each drop
    counted and logged), never silently missing."""
    try:
        result = run_row(ROWS["disk-full"], tmp_path / "disk-full")
    except MountRefused as exc:
        needs_root_mount(f"needs a small tmpfs for the edge's disk (root): {exc}")
    check(result)
    log = (tmp_path / "disk-full" / "edge-b2.log").read_text(errors="replace")
    assert "database or disk is full" in log, "the edge reports the full disk"
    assert "wait in memory" in log, "the edge says the events it could not store are kept"
    assert "event backlog full" not in log
    refusals = [line for line in log.splitlines() if "refused" in line and "event message(s)" in line]
    assert all("kept, to retry" in line for line in refusals), "waiting events are not reported as dropped"


def test_skewed_edge_clocks_lose_no_alarm_and_keep_order(tmp_path: Path) -> None:
    """Test that with one edge's clock 10 min ahead and another's 10 min behind, on the hub's default bounds, the
    hub stores every event once and raises every alarm: the slow edge's events with their own timestamps, the fast
    one's at the hub's receipt time (its stamps kept in ``raw``), and each edge's events in seq order read in
    time order too."""
    result = run_row(ROWS["clock-skew"], tmp_path / "clock-skew")
    check(result)
    db = Database(default_url(tmp_path / "clock-skew" / "hub"))
    try:
        with db.session() as session:
            rows = session.execute(select(EventRecord.edge, EventRecord.seq, EventRecord.occurred_at)).all()
            restamped = session.execute(
                select(EventRecord.edge, EventRecord.occurred_at, EventRecord.received_at, EventRecord.raw)
            ).all()
    finally:
        db.dispose()
    for edge in ("b1", "b2"):
        stamps = [at for _, at in sorted((seq, at) for e, seq, at in rows if e == edge)]
        assert stamps and stamps == sorted(stamps), f"edge {edge}: seq order and time order agree"
    for edge, occurred, received, raw in restamped:
        if edge == "b1":  # 10 min fast: stored at receipt, its own stamp 10 min ahead kept
            assert occurred == received
            assert (datetime.fromisoformat(raw["occurred_at"]) - occurred.replace(tzinfo=UTC)).total_seconds() > 500
        else:  # 10 min slow: within the past bound, stored as stamped
            assert datetime.fromisoformat(raw["occurred_at"]) == occurred.replace(tzinfo=UTC)
