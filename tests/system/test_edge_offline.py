"""Supervised links end to end: a real ``compound edge`` on Mosquitto SIGKILLed → the hub (a real ``compound hub``
process) raises ``edge_offline`` within its bound; the edge restarted → the alarm is cleared.

Heartbeats keep a live edge clear of the bound; the kill closes its socket, the broker publishes the last will,
and the hub raises at once (the silence bound is the backstop for a link that dies without a will).
"""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from compound.config import Compound
from compound.wire import EdgeState, EventKind
from hub.alarms.service import AlarmService
from hub.db import Database, default_url
from tests.edge.support import EdgeProcess
from tests.hub.test_hub_kill import start_hub
from tests.servers import MosquittoServer
from tests.support import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.slow]

BOUND_S = 6.0
KIND = EventKind.EDGE_OFFLINE.value


def test_a_killed_edge_raises_edge_offline_within_the_bound_and_clears_on_return(
    mosquitto: MosquittoServer, compound: Compound, tmp_path: Path
) -> None:
    """Test that a live edge raises nothing past the bound (its heartbeats), that SIGKILLing it raises one
    edge_offline alarm within the bound, routed, and that the edge started again clears it."""
    hub_dir, edge_dir = tmp_path / "hub", tmp_path / "edge"
    hub = start_hub(mosquitto, hub_dir, tmp_path / "hub.log", "--edge-offline-after", f"{BOUND_S:g}s")
    service = AlarmService(Database(default_url(hub_dir)), compound)
    args = [
        "--edge", "b2", "--scenario", "quiet-day", "--speed", "30", "--duration", "100000",
        "--sim-start", "2026-11-24T02:00:00+08:00", "--real-start", str(time.time()),
        "--broker", mosquitto.url, "--data-dir", str(edge_dir),
    ]  # fmt: skip
    edge = EdgeProcess(args, tmp_path / "edge.log")
    again = EdgeProcess(args, tmp_path / "edge-again.log")
    edge.start()
    try:
        wait_for(lambda: service.stats()["edges"].get("b2", {}).get("status") == "online", 60, "b2 online at hub")
        time.sleep(BOUND_S + 3)
        assert service.list_alarms(kind=KIND) == [], "a live edge's heartbeats keep it clear of the bound"
        killed = datetime.now(UTC)
        edge.signal(signal.SIGKILL)
        assert edge.wait(timeout=10) == -signal.SIGKILL
        wait_for(lambda: service.list_alarms(kind=KIND), BOUND_S + 10, "edge_offline at the hub")
        (alarm,) = service.list_alarms(kind=KIND)
        delay = (alarm.raised_at - killed).total_seconds()
        assert delay <= BOUND_S, f"raised {delay:.1f} s after the kill"
        assert (alarm.device, alarm.location.building, alarm.cleared_at) == ("b2", "b2", None)
        assert alarm.assignees, "routed to maintenance and the manager on duty"
        assert service.stats()["edges"]["b2"]["status"] == EdgeState.OFFLINE.value
        again.start()
        wait_for(lambda: service.list_alarms(kind=KIND)[0].cleared_at is not None, 60, "edge_offline cleared")
        assert len(service.list_alarms(kind=KIND)) == 1, "the return clears the alarm, raises no other"
    finally:
        edge.kill()
        again.kill()
        hub.terminate()
        hub.wait(timeout=30)
