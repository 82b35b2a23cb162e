"""A hub killed with SIGKILL mid-stream and restarted loses nothing and doubles nothing (on amqtt too)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from compound import wire
from compound.config import Compound
from hub.db import Alarm, AlarmHistory, Database, EventRecord, SeqGap, default_url
from tests.conftest import ROOT
from tests.edge.scripted import ScriptedEdge
from tests.hub.helpers import make_event
from tests.servers import BrokerServer
from tests.support import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.slow]

DEVICES = 150
"""Each device gets a raise then a clear: 2 × DEVICES events, DEVICES alarms."""


def start_hub(broker: BrokerServer, data_dir: Path, log_path: Path, *extra: str) -> subprocess.Popen[bytes]:
    """``compound hub`` (with ``extra`` options) as a child process; returns once it has subscribed."""
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "compound.cli",
            "-v",
            "hub",
            "--broker",
            broker.url,
            "--broker-kind",
            broker.kind,
            "--config",
            str(ROOT / "configs"),
            "--data-dir",
            str(data_dir),
            "--port",
            "0",
            *extra,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    log.close()
    start = log_path.stat().st_size if log_path.exists() else 0
    wait_for(
        lambda: "hub ingest subscribed" in log_path.read_text(errors="replace")[start:] or proc.poll() is not None,
        timeout=30,
        what="hub subscription",
    )
    assert proc.poll() is None, log_path.read_text(errors="replace")[-3000:]
    return proc


def count(db: Database, model: type, *where: object) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)  # type: ignore[arg-type]


def test_sigkill_mid_stream_loses_nothing_and_doubles_nothing(
    broker: BrokerServer, compound: Compound, tmp_path: Path
) -> None:
    """Test that a hub SIGKILLed while an edge streams QoS 1 events, then restarted, loses nothing and doubles
    nothing, on Mosquitto and on amqtt 0.12 (which drops what was in flight and what was published while the
    hub was down: the hub gets it back through resend request): every event stored once, one alarm per device
    with one raise, notify and clear, no seq gap left open."""
    data_dir = tmp_path / "hub"
    log_path = tmp_path / "hub.log"
    smoke = [d.id for d in compound.devices_of_edge("b2") if d.id.endswith("-smoke")]
    devices, marker_device = smoke[:DEVICES], smoke[DEVICES]
    events: list[wire.Event] = []
    for device in devices:  # seq n is events[n - 1], as the outbox assigns them
        events.append(make_event(compound, device, seq=len(events) + 1, state="raised"))
        events.append(make_event(compound, device, seq=len(events) + 1, state="cleared", value=0.01))
    marker = make_event(compound, marker_device, seq=len(events) + 1, state="raised")
    closing = make_event(compound, marker_device, seq=len(events) + 2, state="cleared", value=0.01)
    script = [*events, marker, closing]

    def build(seq: int) -> wire.Event:
        return script[seq - 1]

    hub = start_hub(broker, data_dir, log_path)
    db = Database(default_url(data_dir))
    edge = ScriptedEdge(compound, "b2", broker.host, broker.port, tmp_path / "edge").start()
    published = 0

    def stream() -> None:
        nonlocal published
        for _ in events:
            edge.put(build)
            published += 1
            time.sleep(0.004)

    sender = threading.Thread(target=stream)
    try:
        sender.start()
        # Kill once the hub has stored some but not all: it is mid-stream.
        wait_for(lambda: count(db, EventRecord) >= 40, timeout=30, what="hub storing the first events")
        hub.send_signal(signal.SIGKILL)
        hub.wait(timeout=10)
        killed_at = count(db, EventRecord)
        sender.join(timeout=60)
        assert published == len(events)
        assert killed_at < len(events), "the hub finished before it was killed; the test proves nothing"
        wait_for(lambda: edge.outbox.depth() == 0, timeout=30, what="the broker acknowledging every event")

        hub = start_hub(broker, data_dir, log_path)
        edge.put(build)  # the marker
        wait_for(lambda: count(db, EventRecord) == len(events) + 1, timeout=90, what="every event after the restart")
        wait_for(lambda: count(db, SeqGap) == 0, timeout=30, what="every seq gap closed")
        # A late redelivery (the broker's queue for the hub, a replay in the edge's outbox) travels ahead of an event
        # published after it: once the closing marker is stored, whatever came late has been counted as a duplicate
        # or, wrongly, stored again.
        edge.put(build)  # the closing marker: the marker's clear
        wait_for(
            lambda: count(db, EventRecord, EventRecord.event_id == closing.id), timeout=30, what="the closing marker"
        )
        with db.session() as session:
            stored = list(session.scalars(select(EventRecord.event_id)))
            per_alarm = session.execute(
                select(AlarmHistory.alarm_id, AlarmHistory.action, func.count())
                .where(AlarmHistory.action != "escalation")  # incident notes: one per alarm joining a unit's fire
                .group_by(AlarmHistory.alarm_id, AlarmHistory.action)
            ).all()
        assert sorted(stored) == sorted(e.id for e in script), "every event stored exactly once"
        assert count(db, Alarm) == DEVICES + 1
        assert all(n == 1 for _, _, n in per_alarm), "an alarm step was recorded twice"
        steps = {(action, n) for _, action, n in per_alarm}
        assert (
            {("raise", 1), ("route", 1), ("clear", 1)}
            <= steps
            <= {("raise", 1), ("route", 1), ("notify", 1), ("clear", 1)}
        )
        assert count(db, Alarm, Alarm.cleared_at.is_(None)) == 0  # every alarm cleared, the marker's by the closing one
        replays = edge.resend.stats.requeued
        print(f"{broker.kind}: {killed_at} stored before the kill, {replays} event(s) resent on resend request")
    finally:
        edge.stop()
        if hub.poll() is None:
            hub.send_signal(signal.SIGTERM)
            hub.wait(timeout=30)
        db.dispose()
    assert hub.returncode == 0, log_path.read_text(errors="replace")[-3000:]
