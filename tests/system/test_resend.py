"""End-to-end recovery without help from the broker: broker restarted mid-scenario, hub and edge as processes.

amqtt 0.12 keeps no session across its own restart: whatever the edge flushes before the hub has
re-subscribed is acknowledged to the edge and delivered to nobody. The edge's sent-journal and the hub's
resend request (``cmd/resend``) must get every such event into the hub anyway, with no pausing tricks.
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from compound import wire
from hub.db import Database, EventRecord, SeqGap, default_url
from tests.edge.support import EdgeProcess, last_seq
from tests.hub.test_hub_kill import start_hub
from tests.servers import BrokerServer
from tests.support import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.slow]

SCENARIO_START = "2026-11-24T02:00:00+08:00"
OUTAGE_S = 30


def journal(db: Path) -> dict[int, str]:
    """seq -> event id of every event in an edge's journal (read-only)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        rows = conn.execute("SELECT seq, payload FROM journal ORDER BY seq").fetchall()
    finally:
        conn.close()
    return {int(seq): wire.parse(wire.MessageType.EVENT, bytes(raw)).id for seq, raw in rows}


def hub_events(db: Database) -> list[tuple[int, str]]:
    with db.session() as session:
        return [(int(s), str(i)) for s, i in session.execute(select(EventRecord.seq, EventRecord.event_id))]


def open_gaps(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(SeqGap)) or 0)


def test_broker_restart_mid_scenario_loses_nothing(broker: BrokerServer, tmp_path: Path) -> None:
    """Test that with the broker (amqtt: no sessions across its restart; Mosquitto: persistent) stopped for 30 s
    while kitchen-fire-night runs, then restarted, every event the edge produced (seq 1..last in its journal)
    is stored exactly once in the hub database, with no gap left open; no pausing tricks."""
    hub_dir, edge_dir = tmp_path / "hub", tmp_path / "edge"
    outbox = edge_dir / "edge-b2" / "outbox.db"
    hub = start_hub(broker, hub_dir, tmp_path / "hub.log")
    db = Database(default_url(hub_dir))
    args = [
        "--edge", "b2", "--scenario", "kitchen-fire-night", "--speed", "20", "--duration", "1800",
        "--sim-start", SCENARIO_START, "--real-start", str(time.time()), "--broker", broker.url,
        "--data-dir", str(edge_dir),
    ]  # fmt: skip
    edge = EdgeProcess(args, tmp_path / "edge.log")
    edge.start()
    try:
        wait_for(lambda: "connected to" in edge.log(), 30, "the edge's first connection")
        broker.stop()
        before = last_seq(outbox)
        time.sleep(OUTAGE_S)
        assert last_seq(outbox) > before, "no event was produced during the outage: the test proves nothing"
        broker.start()
        assert edge.wait(timeout=180) == 0, edge.log()[-3000:]
        last = last_seq(outbox)
        produced = journal(outbox)
        assert sorted(produced) == list(range(1, last + 1)), "the journal holds every event of this run"
        wait_for(lambda: len(hub_events(db)) >= last, 60, f"seq 1..{last} stored by the hub")
        wait_for(lambda: open_gaps(db) == 0, 30, "every seq gap closed")
        stored = hub_events(db)
        assert sorted(stored) == sorted(produced.items()), "each event stored once, with the edge's id and seq"
    finally:
        edge.kill()
        hub.terminate()
        hub.wait(timeout=30)
        db.dispose()
    asked = (tmp_path / "hub.log").read_text(errors="replace").count("asked edge b2 to resend")
    resent = sum(int(m) for m in re.findall(r"-> (\d+) event\(s\) requeued", edge.log()))
    print(f"{broker.kind} outage: {last} events, {asked} resend request(s) to b2, {resent} event(s) resent")
