"""The edge publisher with fallback nodes: a node that refuses connections is left for the next, and what was
stored reaches the broker there."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from compound.config import Compound
from edge.outbox import Outbox
from edge.publisher import LastWill, Publisher
from tests.edge.scripted import ScriptedEdge
from tests.edge.support import Collector, EdgeProcess, last_seq
from tests.hub.helpers import make_event
from tests.servers import MosquittoServer
from tests.support import free_port, wait_for

pytestmark = pytest.mark.broker


def test_an_unreachable_first_node_is_left_for_the_next(
    mosquitto: MosquittoServer, compound: Compound, tmp_path: Path
) -> None:
    """Test that an edge whose first broker node refuses connections moves to its fallback after
    ``failover_after_s`` and publishes every stored event there (the outbox empties: each was acknowledged)."""
    dead = free_port()
    edge = ScriptedEdge(
        compound,
        "b2",
        "127.0.0.1",
        dead,
        tmp_path,
        fallbacks=[(mosquitto.host, mosquitto.port)],
        failover_after_s=0.5,
    )
    try:
        edge.start()
        for _ in range(20):
            edge.put(lambda seq: make_event(compound, "b2-u1-1502-smoke", seq=seq))
        wait_for(lambda: edge.outbox.depth() == 0, timeout=30, what="every event acknowledged by the fallback")
        assert edge.publisher.failovers == 1
        assert (edge.publisher.host, edge.publisher.port) == (mosquitto.host, mosquitto.port)
    finally:
        edge.stop()


def test_failover_delay_must_be_positive(tmp_path: Path) -> None:
    """Test that a zero failover delay is refused with a message naming it."""
    outbox = Outbox(tmp_path / "outbox.db")
    status = LastWill("compound/v1/x/e/status", lambda: b"on", lambda: b"off")
    try:
        with pytest.raises(ValueError, match="failover_after_s must be positive"):
            Publisher(outbox, host="127.0.0.1", port=1, client_id="e", status=status, failover_after_s=0)
    finally:
        outbox.close()


@pytest.mark.slow
def test_compound_edge_publishes_through_its_broker_fallback(mosquitto: MosquittoServer, tmp_path: Path) -> None:
    """Test that ``compound edge --broker <a dead node> --broker-fallback <a live one>`` delivers the scenario's
    events there: the subscriber sees every seq the edge assigned."""
    collector = Collector(mosquitto.port, "compound/v1/sunrise-garden/b2/event/+", "it-fallback")
    collector.start()
    data_dir = tmp_path / "data"
    args = [
        "--edge", "b2", "--scenario", "kitchen-fire-night", "--speed", "60", "--duration", "1200",
        "--sim-start", "2026-11-24T02:00:00+08:00", "--real-start", str(time.time()),
        "--broker", f"mqtt://127.0.0.1:{free_port()}", "--broker-fallback", mosquitto.url, "--data-dir", str(data_dir),
    ]  # fmt: skip
    edge = EdgeProcess(args, tmp_path / "edge.log")
    edge.start()
    try:
        assert edge.wait(timeout=120) == 0, edge.log()[-3000:]
        last = last_seq(data_dir / "edge-b2" / "outbox.db")
        assert last > 0, "the scenario raised no event"
        wait_for(lambda: collector.seqs() >= set(range(1, last + 1)), 30, f"seqs 1..{last} through the fallback")
        assert "trying 127.0.0.1:" in edge.log()
    finally:
        edge.kill()
        collector.stop()


def test_compound_edge_refuses_a_fallback_of_another_scheme(tmp_path: Path) -> None:
    """Test that a plain-TCP fallback beside a TLS broker is refused with a message naming both (exit 2)."""
    args = [
        "--edge", "b2", "--duration", "1", "--broker", "mqtts://127.0.0.1:8883",
        "--broker-fallback", "mqtt://127.0.0.1:1883", "--data-dir", str(tmp_path),
    ]  # fmt: skip
    edge = EdgeProcess(args, tmp_path / "edge.log")
    edge.start()
    try:
        assert edge.wait(timeout=60) == 2
        assert "--broker-fallback mqtt://127.0.0.1:1883 must use the scheme of --broker mqtts://127.0.0.1:8883" in (
            edge.log()
        )
    finally:
        edge.kill()
