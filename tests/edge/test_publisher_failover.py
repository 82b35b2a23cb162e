"""The edge publisher with fallback nodes: a node that refuses connections is left for the next, and what was
stored reaches the broker there."""

from __future__ import annotations

from pathlib import Path

import pytest

from compound.config import Compound
from edge.outbox import Outbox
from edge.publisher import LastWill, Publisher
from tests.edge.scripted import ScriptedEdge
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
