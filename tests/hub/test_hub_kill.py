"""A hub killed with SIGKILL mid-stream and restarted loses nothing and doubles nothing."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from compound.config import Compound
from hub.db import Alarm, AlarmHistory, Database, EventRecord, SeqGap, default_url
from tests.conftest import ROOT
from tests.hub.helpers import Publisher, make_event, wait_for
from tests.servers import BrokerServer

pytestmark = [pytest.mark.broker, pytest.mark.slow]

DEVICES = 150
"""Each device gets a raise then a clear: 2 × DEVICES events, DEVICES alarms."""


HUB_MAIN = """
import argparse, logging, sys
from compound.commands import hub
parser = argparse.ArgumentParser(prog="compound")
hub.register(parser.add_subparsers(dest="command", required=True))
args = parser.parse_args(sys.argv[1:])
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
sys.exit(args.func(args))
"""
"""``compound hub`` through its own command module only (independent of other subcommands' imports)."""


def start_hub(broker: BrokerServer, data_dir: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """``compound hub`` as a child process; returns once it has subscribed."""
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            HUB_MAIN,
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
    """Test that a hub SIGKILLed while a publisher streams QoS 1 events, then restarted, ends with every event
    stored exactly once, one alarm per device with exactly one raise, notify and clear in its history, and no
    sequence gaps."""
    data_dir = tmp_path / "hub"
    log_path = tmp_path / "hub.log"
    devices = [d.id for d in compound.devices_of_edge("b2") if d.id.endswith("-smoke")][:DEVICES]
    events = []
    for i, device in enumerate(devices):
        events.append(make_event(compound, device, seq=2 * i, state="raised"))
        events.append(make_event(compound, device, seq=2 * i + 1, state="cleared", value=0.01))

    hub = start_hub(broker, data_dir, log_path)
    db = Database(default_url(data_dir))
    published = 0
    publisher = Publisher(broker.host, broker.port)

    def stream() -> None:
        nonlocal published
        for msg in events:
            publisher.event(compound, msg)
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

        hub = start_hub(broker, data_dir, log_path)
        wait_for(lambda: count(db, EventRecord) >= len(events), timeout=60, what="every event after the restart")
        time.sleep(1.0)  # let any late redelivery arrive: it must be counted as a duplicate, not stored
        assert count(db, EventRecord) == len(events)
        with db.session() as session:
            stored = set(session.scalars(select(EventRecord.event_id)))
            assert stored == {e.id for e in events}
            assert count(db, Alarm) == DEVICES
            per_alarm = session.execute(
                select(AlarmHistory.alarm_id, AlarmHistory.action, func.count()).group_by(
                    AlarmHistory.alarm_id, AlarmHistory.action
                )
            ).all()
            assert {(action, n) for _, action, n in per_alarm} == {("raise", 1), ("notify", 1), ("clear", 1)}
            assert session.scalar(select(func.count()).select_from(SeqGap)) == 0
            assert count(db, Alarm, Alarm.cleared_at.is_(None)) == 0
    finally:
        publisher.close()
        if hub.poll() is None:
            hub.send_signal(signal.SIGTERM)
            hub.wait(timeout=30)
        db.dispose()
    assert hub.returncode == 0, log_path.read_text(errors="replace")[-3000:]
