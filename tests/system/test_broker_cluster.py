"""A three-node NATS cluster (MQTT on clustered JetStream, everything replicated on all three nodes) under the real
edge and hub: one node SIGKILLed mid-stream (the edge's, one nobody uses, one of two hubs'), and every event the edge
raised is stored exactly once.

The nodes are Debian's ``nats-server``, started once for the module on free loopback ports (``tests/clusters.py``);
a killed node is started again before the next test. Why NATS and not RabbitMQ: README, "Broker cluster".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from compound import wire
from compound.broker import supports_shared_subscriptions
from compound.config import Compound
from hub.db import Database, EventRecord, SeqGap, default_url
from hub.ingest import Ingestor, probe_shared_subscriptions
from hub.ingest.settings import IngestSettings
from tests.clusters import ClusterNode, NatsCluster
from tests.edge.scripted import ScriptedEdge
from tests.hub.helpers import HubThread, make_event
from tests.support import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.slow]

EVENTS = 240
"""Events streamed around each kill: a raise and a clear for each of 120 smoke detectors of edge b2."""

RATE = 120.0
"""Events per second while streaming: the kill lands with events in flight and more still to come."""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    """Three NATS nodes routed to each other, JetStream clustered, MQTT on each; once for the module."""
    nodes = NatsCluster(tmp_path_factory.mktemp("nats")).start()
    yield nodes
    nodes.stop()


@pytest.fixture
def whole(cluster: NatsCluster) -> NatsCluster:
    """The cluster with every node running (a node killed by an earlier test is started again)."""
    cluster.heal()
    return cluster


def count(db: Database, model: type) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def stream_through_a_kill(
    cluster: NatsCluster,
    compound: Compound,
    tmp_path: Path,
    *,
    edge_on: list[ClusterNode],
    victim: ClusterNode,
    hubs_on: list[list[ClusterNode]] | None = None,
) -> tuple[list[wire.Event], ScriptedEdge, Database, list[Ingestor]]:
    """Hubs on ``hubs_on`` (each its nodes in the order tried; node 1 by default), all on one database; edge b2 on
    ``edge_on[0]`` (then the others in turn); ``EVENTS`` streamed at ``RATE``, ``victim`` SIGKILLed a third of the
    way in and started again once the edge's outbox is empty. Returns the events raised, the edge, the hubs'
    database and their ingestors once every event is stored."""
    smoke = [d.id for d in compound.devices_of_edge("b2") if d.id.endswith("-smoke")][: EVENTS // 2]
    script: list[wire.Event] = []
    for device in smoke:  # seq n is script[n - 1], as the outbox assigns them
        script.append(make_event(compound, device, seq=len(script) + 1, state="raised"))
        script.append(make_event(compound, device, seq=len(script) + 1, state="cleared", value=0.01))
    db = Database(default_url(tmp_path / "hub"))
    db.create()
    hubs = []
    for i, (node, *others) in enumerate(hubs_on or [cluster.nodes[:1]]):
        # A replica name per hub and test: its persistent session on the cluster starts empty.
        settings = IngestSettings(replica=f"{tmp_path.name[-36:]}-{i}", supervise_edges=False)
        fallbacks = [(n.host, n.port) for n in others]
        ingestor = Ingestor(
            db,
            compound,
            host=node.host,
            port=node.port,
            broker_kind="auto",
            settings=settings,
            fallbacks=fallbacks,
            failover_after_s=1.0,
        )
        hubs.append(HubThread(ingestor))
    (first, *fallbacks) = [(node.host, node.port) for node in edge_on]
    edge = ScriptedEdge(compound, "b2", *first, tmp_path / "edge", fallbacks=fallbacks, failover_after_s=1.0)
    try:
        for hub in hubs:
            hub.start(timeout=30)
        edge.start(timeout=30)

        def stream() -> None:
            for _ in script:
                edge.put(lambda seq: script[seq - 1])
                time.sleep(1 / RATE)

        sender = threading.Thread(target=stream)
        sender.start()
        wait_for(lambda: count(db, EventRecord) >= EVENTS // 3, timeout=60, what="the hub storing a third")
        victim.kill()
        stored_at_kill = count(db, EventRecord)
        sender.join(timeout=EVENTS / RATE + 60)
        assert stored_at_kill < EVENTS, "everything was stored before the kill; the test proves nothing"
        wait_for(lambda: edge.outbox.depth() == 0, timeout=60, what="the cluster acknowledging every event")
        cluster.restart(victim)
        wait_for(lambda: count(db, EventRecord) >= EVENTS, timeout=60, what="every event stored at the hub")
        wait_for(lambda: count(db, SeqGap) == 0, timeout=30, what="no seq gap left open")
        return script, edge, db, [hub.ingestor for hub in hubs]
    finally:
        edge.stop()
        for hub in hubs:
            if hub.thread.is_alive():
                hub.stop()
        db.dispose()


def stored_ids(db: Database) -> list[str]:
    with db.session() as session:
        return sorted(session.scalars(select(EventRecord.event_id)))


def test_the_node_an_edge_is_connected_to_killed_mid_stream_loses_nothing(
    whole: NatsCluster, compound: Compound, tmp_path: Path
) -> None:
    """Test that when the node edge b2 publishes to is SIGKILLed mid-stream, the edge moves to the next node, re-sends
    what was not acknowledged, and the hub (on another node) stores every event exactly once with no gap."""
    n1, n2, n3 = whole.nodes
    script, edge, db, _ = stream_through_a_kill(whole, compound, tmp_path, edge_on=[n2, n3, n1], victim=n2)
    assert edge.publisher.failovers >= 1
    assert (edge.publisher.host, edge.publisher.port) != (n2.host, n2.port)
    assert stored_ids(db) == sorted(e.id for e in script), "every event stored exactly once"


def test_a_node_nobody_is_connected_to_killed_mid_stream_loses_nothing(
    whole: NatsCluster, compound: Compound, tmp_path: Path
) -> None:
    """Test that SIGKILLing the third node (holding a replica of every stream, no client) mid-stream loses nothing:
    the two left keep a quorum, the edge stays where it is, every event is stored exactly once."""
    n1, n2, n3 = whole.nodes
    script, edge, db, _ = stream_through_a_kill(whole, compound, tmp_path, edge_on=[n2, n3, n1], victim=n3)
    assert edge.publisher.failovers == 0
    assert stored_ids(db) == sorted(e.id for e in script), "every event stored exactly once"


def test_two_hubs_on_two_nodes_one_node_killed_store_every_event_once(
    whole: NatsCluster, compound: Compound, tmp_path: Path
) -> None:
    """Test the hub replicas NATS allows (no shared subscriptions): two hubs on two nodes, each subscribed to the whole
    stream, one database. The node of one hub is SIGKILLed mid-stream: the other hub goes on, the first moves to its
    fallback node and resumes its replicated session there, and every event is stored exactly once (the event id's
    uniqueness absorbs the copies)."""
    n1, n2, n3 = whole.nodes
    script, edge, db, (first, second) = stream_through_a_kill(
        whole, compound, tmp_path, edge_on=[n2, n3], victim=n1, hubs_on=[[n1, n2], [n3, n2]]
    )
    assert edge.publisher.failovers == 0
    assert first.failovers >= 1 and (first.host, first.port) == (n2.host, n2.port)
    assert second.failovers == 0
    assert stored_ids(db) == sorted(e.id for e in script), "every event stored exactly once"


def test_nats_mqtt_does_not_deliver_shared_subscriptions(whole: NatsCluster) -> None:
    """Test what the hub's probe finds on NATS 2.9's MQTT: no ``$share/`` delivery, so hub replicas on it subscribe
    plainly (each receives everything; the event id's uniqueness stores each once)."""
    node = whole.nodes[0]
    assert probe_shared_subscriptions(node.host, node.port) is False
    assert not supports_shared_subscriptions("nats"), "compound hub --broker-kind nats must subscribe plainly"
