"""Library scenario ``edge-power-loss``: an edge agent loses power (SIGKILL) in the middle of kitchen-fire-night.

Hub and edge run as processes on Mosquitto. The edge is killed once the hub holds the smoke alarm: no clean
disconnect, no drain, no offline status of its own. What must happen, and what the hub then shows:

- the broker publishes the edge's last will: the retained status reads ``offline`` and the hub's edge row
  (``stats()["edges"]``, the console's figures) says so;
- every event the edge had published before the cut is stored by the hub, once;
- the smoke alarm stays open and not cleared: the clear never came, and nothing pretends it did.

- the hub raises ``edge_offline`` for the dead edge at once (the last will; ``hub.ingest.supervision``), at b2,
  routed to maintenance and the manager on duty.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from compound import wire
from compound.config import Compound
from compound.wire import EdgeState, EventKind, MessageType
from hub.alarm_states import OPEN_STATES
from hub.alarms.service import AlarmService
from hub.db import Database, EventRecord, default_url
from tests.edge.support import Collector, EdgeProcess, outbox_rows
from tests.hub.test_hub_kill import start_hub
from tests.servers import MosquittoServer
from tests.support import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.slow]

SMOKE = "b2-u1-1502-smoke"
MUST_RAISE = frozenset({EventKind.SMOKE, EventKind.EDGE_OFFLINE})
"""The library entry: smoke raised before the cut (and still open after it), edge_offline by the hub after it."""
MUST_NOT: frozenset[EventKind] = frozenset()
"""No kind is tempted here; what must not happen is the smoke clear (checked: ``cleared_at`` stays None)."""
STATUS = "compound/v1/sunrise-garden/b2/status"


def journal(db: Path) -> dict[int, str]:
    """seq -> event id of every event the edge produced (its journal, read-only)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        rows = conn.execute("SELECT seq, payload FROM journal ORDER BY seq").fetchall()
    finally:
        conn.close()
    return {int(seq): wire.parse(MessageType.EVENT, bytes(raw)).id for seq, raw in rows}


def hub_events(db: Database) -> list[tuple[int, str]]:
    """(seq, event id) of every event the hub stored."""
    with db.session() as session:
        return [(int(s), str(i)) for s, i in session.execute(select(EventRecord.seq, EventRecord.event_id))]


def test_edge_power_loss_mid_fire(mosquitto: MosquittoServer, compound: Compound, tmp_path: Path) -> None:
    """Test that an edge killed mid-fire goes offline through its last will, the hub shows it offline with the
    smoke alarm still open and uncleared, and every event published before the cut is stored once."""
    hub_dir, edge_dir = tmp_path / "hub", tmp_path / "edge"
    outbox = edge_dir / "edge-b2" / "outbox.db"
    status = Collector(mosquitto.port, STATUS, "it-power-loss-status", filter_prefix=(STATUS,))
    status.start()
    hub = start_hub(mosquitto, hub_dir, tmp_path / "hub.log")
    service = AlarmService(Database(default_url(hub_dir)), compound)
    args = [
        "--edge", "b2", "--scenario", "kitchen-fire-night", "--speed", "30", "--duration", "1200",
        "--sim-start", "2026-11-24T02:00:00+08:00", "--real-start", str(time.time()),
        "--broker", mosquitto.url, "--data-dir", str(edge_dir),
    ]  # fmt: skip
    edge = EdgeProcess(args, tmp_path / "edge.log")
    edge.start()
    try:
        wait_for(lambda: service.list_alarms(kind=EventKind.SMOKE.value), 90, "the smoke alarm at the hub")
        assert service.stats()["edges"]["b2"]["status"] == EdgeState.ONLINE.value
        edge.signal(signal.SIGKILL)  # the power cut: no DISCONNECT, no drain, no offline status of its own
        assert edge.wait(timeout=10) == -signal.SIGKILL
        pending = {wire.parse(MessageType.EVENT, p).id for lane, _, p in outbox_rows(outbox) if lane == 0}
        produced = journal(outbox)
        wait_for(lambda: service.stats()["edges"]["b2"]["status"] == EdgeState.OFFLINE.value, 30, "offline at hub")
        wait_for(lambda: service.list_alarms(kind=EventKind.EDGE_OFFLINE.value), 10, "edge_offline at the hub")
        published = set(produced.values()) - pending
        assert published, "nothing was published before the cut: the test proves nothing"
        wait_for(lambda: published <= {i for _, i in hub_events(service.db)}, 30, "the published events stored")
        stored = hub_events(service.db)
    finally:
        edge.kill()
        hub.terminate()
        hub.wait(timeout=30)
        status.stop()
    states = [wire.parse(MessageType.STATUS, p).state for _, p in status.messages]
    assert states[-1] is EdgeState.OFFLINE, "the retained status is the last will's offline"
    assert len(stored) == len({i for _, i in stored}), "each event stored once"
    assert {i for _, i in stored} <= set(produced.values()), "the hub holds only what the edge produced"
    assert all(produced[s] == i for s, i in stored), "each stored with the edge's seq"
    alarms = service.list_alarms(kind=EventKind.SMOKE.value)
    assert [(a.device, a.cleared_at) for a in alarms] == [(SMOKE, None)], "one smoke alarm, never cleared"
    assert alarms[0].state in OPEN_STATES
    (dark,) = service.list_alarms(kind=EventKind.EDGE_OFFLINE.value)
    assert (dark.device, dark.location.building, dark.cleared_at) == ("b2", "b2", None), "the dead edge's own alarm"
    assert dark.assignees, "routed to maintenance and the manager on duty"
