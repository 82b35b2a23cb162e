"""A clustered MQTT broker under the real edge and hub: NATS and RabbitMQ, three nodes on loopback, beside a single
Mosquitto in the same run; then one node SIGKILLed mid-stream, and what was lost.

For each broker (``mosquitto``: one node, the baseline; ``nats``: three ``nats-server`` nodes, JetStream clustered,
MQTT sessions and messages replicated on all three; ``rabbitmq``: three ``rabbitmq-server`` nodes, MQTT plugin,
sessions on quorum queues):

- ``start_s``: spawning the nodes → every node routing a QoS 1 message to a subscriber on another node;
- ``publish``: N events stored in a real edge outbox and published by its ``Publisher`` (paho QoS 1, window 64)
  to one node, events/s until the last PUBACK;
- ``stored``: the same N events through the broker to a hub ``Ingestor`` on another node (SQLite), events/s until
  the last is stored (the hub's own rate bounds this one);
- ``kill edge node`` / ``kill other node`` (clusters only): K events streamed at a paced rate, the node the edge is
  connected to (then, separately, a node nobody is connected to) SIGKILLed a third of the way in and started
  again after the stream; the edge fails over to the next node (``Publisher(fallbacks=...)``). ``lost`` is events
  published minus event ids stored at the hub; ``duplicates`` copies the hub received and absorbed by event id.

Run: ``.venv/bin/python bench/broker_cluster.py [--events 3000] [--kill-events 600] [--brokers nats,rabbitmq]
[--json]``. Needs Debian's ``mosquitto``, ``nats-server`` and (for ``rabbitmq``) ``rabbitmq-server``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from compound import wire  # noqa: E402
from compound.config import Compound, load_config  # noqa: E402
from hub.alarms.service import AlarmService  # noqa: E402
from hub.db import Database, EventRecord, default_url  # noqa: E402
from hub.ingest import Ingestor  # noqa: E402
from hub.ingest.settings import IngestSettings  # noqa: E402
from tests.clusters import BrokerCluster, ClusterNode, NatsCluster, RabbitCluster  # noqa: E402
from tests.edge.scripted import ScriptedEdge  # noqa: E402
from tests.hub.helpers import HubThread, make_event  # noqa: E402
from tests.servers import MosquittoServer  # noqa: E402

CLUSTERS: dict[str, type[BrokerCluster]] = {"nats": NatsCluster, "rabbitmq": RabbitCluster}


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


def stored(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(EventRecord)) or 0)


def stored_ids(db: Database) -> set[str]:
    with db.session() as session:
        return set(session.scalars(select(EventRecord.event_id)))


class Script:
    """Events of edge b2's smoke detectors, raise then clear, for seq 1, 2, ... (as the outbox assigns them)."""

    def __init__(self, compound: Compound) -> None:
        self.compound = compound
        self.devices = [d.id for d in compound.devices_of_edge("b2") if d.id.endswith("-smoke")]
        self.events: dict[int, wire.Event] = {}

    def __call__(self, seq: int) -> wire.Event:
        device = self.devices[((seq - 1) // 2) % len(self.devices)]
        raised = seq % 2 == 1
        event = make_event(
            self.compound,
            device,
            seq=seq,
            state="raised" if raised else "cleared",
            value=0.31 if raised else 0.01,
            at=datetime.now(UTC),
        )
        self.events[seq] = event
        return event


@contextmanager
def running(
    compound: Compound, folder: Path, hub_at: tuple[str, int], edge_at: list[tuple[str, int]]
) -> Iterator[tuple[ScriptedEdge, HubThread, Database, Script]]:
    """A hub on ``hub_at`` and an edge on ``edge_at[0]`` (the rest its fallbacks), each with fresh state."""
    db = Database(default_url(folder / "hub"))
    db.create()
    # A replica name of its own: the hub's persistent session on the broker starts empty (a run does not inherit
    # what the previous run's session still held).
    settings = IngestSettings(replica=folder.name, supervise_edges=False)
    ingestor = Ingestor(db, compound, host=hub_at[0], port=hub_at[1], broker_kind="auto", settings=settings)
    hub = HubThread(ingestor).start(timeout=60)
    (host, port), *fallbacks = edge_at
    edge = ScriptedEdge(compound, "b2", host, port, folder / "edge", fallbacks=fallbacks, failover_after_s=2.0)
    try:
        edge.start(timeout=30)
        yield edge, hub, db, Script(compound)
    finally:
        edge.stop()
        hub.stop()
        db.dispose()


def throughput(
    compound: Compound, folder: Path, hub_at: tuple[str, int], edge_at: list[tuple[str, int]], n: int
) -> dict[str, Any]:
    with running(compound, folder, hub_at, edge_at) as (edge, hub, db, script):
        began = time.monotonic()
        for _ in range(n):
            edge.put(script)
        wait_until(lambda: edge.outbox.depth() == 0, 300, "every PUBACK")
        published = time.monotonic() - began
        wait_until(lambda: stored(db) >= n, 300, "every event stored")
        done = time.monotonic() - began
        return {
            "events": n,
            "publish_msg_per_s": round(n / published, 1),
            "stored_msg_per_s": round(n / done, 1),
            "lost": n - len(stored_ids(db) & {e.id for e in script.events.values()}),
            "shared_subscriptions": hub.ingestor.shared,
        }


def kill_mid_stream(
    cluster: BrokerCluster,
    compound: Compound,
    folder: Path,
    hub_node: ClusterNode,
    edge_nodes: list[ClusterNode],
    victim: ClusterNode,
    k: int,
    rate: float,
) -> dict[str, Any]:
    """Stream ``k`` events at ``rate``/s, SIGKILL ``victim`` a third of the way, restart it after; count losses."""
    edge_at = [(node.host, node.port) for node in edge_nodes]
    with running(compound, folder, (hub_node.host, hub_node.port), edge_at) as (edge, hub, db, script):
        killed_at = 0

        def stream() -> None:
            for _ in range(k):
                edge.put(script)
                time.sleep(1 / rate)

        sender = threading.Thread(target=stream)
        began = time.monotonic()
        sender.start()
        wait_until(lambda: stored(db) >= k // 3, 120, "a third stored")
        victim.kill()
        killed_at = stored(db)
        sender.join(timeout=k / rate + 120)
        wait_until(lambda: edge.outbox.depth() == 0, 120, "every PUBACK after the kill")
        restart_began = time.monotonic()
        cluster.restart(victim)
        restart_s = time.monotonic() - restart_began
        deadline = time.monotonic() + 120
        ids = {e.id for e in script.events.values()}
        while not ids <= stored_ids(db) and time.monotonic() < deadline:
            time.sleep(0.1)
        ids_stored = stored_ids(db) & ids
        stats = AlarmService(db, compound).stats()
        return {
            "events": k,
            "stored_when_killed": killed_at,
            "lost": len(ids - ids_stored),
            "stored_once": len(ids_stored),
            "duplicates_absorbed": stats["duplicates"],
            "edge_failovers": edge.publisher.failovers,
            "hub_reconnects": hub.ingestor.connections - 1,
            "all_stored_s": round(time.monotonic() - began, 2),
            "restart_s": round(restart_s, 2),
        }


def bench_cluster(kind: str, folder: Path, compound: Compound, n: int, k: int, rate: float) -> dict[str, Any]:
    cluster = CLUSTERS[kind](folder / kind)
    cluster.start()
    try:
        n1, n2, n3 = cluster.nodes
        result: dict[str, Any] = {"broker": kind, "nodes": len(cluster.nodes), "start_s": round(cluster.started_s, 2)}
        result["throughput"] = throughput(compound, folder / f"{kind}-tp", (n1.host, n1.port), [(n2.host, n2.port)], n)
        result["kill_edge_node"] = kill_mid_stream(cluster, compound, folder / f"{kind}-k1", n1, [n2, n3], n2, k, rate)
        result["kill_other_node"] = kill_mid_stream(cluster, compound, folder / f"{kind}-k2", n1, [n2, n3], n3, k, rate)
        return result
    finally:
        cluster.stop()


def bench_mosquitto(folder: Path, compound: Compound, n: int) -> dict[str, Any]:
    began = time.monotonic()
    server = MosquittoServer(folder / "mosquitto")
    server.start()
    try:
        start_s = time.monotonic() - began
        result: dict[str, Any] = {"broker": "mosquitto", "nodes": 1, "start_s": round(start_s, 2)}
        endpoint = (server.host, server.port)
        result["throughput"] = throughput(compound, folder / "mosquitto-tp", endpoint, [endpoint], n)
        return result
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000, help="events for the throughput run (default 3000)")
    parser.add_argument("--kill-events", type=int, default=600, help="events streamed around a kill (default 600)")
    parser.add_argument("--rate", type=float, default=200.0, help="events/s while a node is killed (default 200)")
    parser.add_argument("--brokers", default="nats,rabbitmq", help="clusters to measure (default nats,rabbitmq)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    kinds = [k for k in args.brokers.split(",") if k]
    unknown = sorted(set(kinds) - set(CLUSTERS))
    if unknown:
        parser.error(f"unknown broker(s) {', '.join(unknown)}; choose from {', '.join(CLUSTERS)}")
    compound = load_config(ROOT / "configs")
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        folder = Path(tmp)
        results.append(bench_mosquitto(folder, compound, args.events))
        for kind in kinds:
            results.append(bench_cluster(kind, folder, compound, args.events, args.kill_events, args.rate))
    base = results[0]["throughput"]
    for row in results:
        tp = row["throughput"]
        tp["publish_ratio_to_mosquitto"] = round(tp["publish_msg_per_s"] / base["publish_msg_per_s"], 3)
        tp["stored_ratio_to_mosquitto"] = round(tp["stored_msg_per_s"] / base["stored_msg_per_s"], 3)
    report = {
        "benchmark": "broker_cluster",
        "machine": f"{platform.machine()} {platform.python_implementation()} {platform.python_version()}",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "results": results,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{'broker':<10} {'nodes':>5} {'start s':>8} {'publish/s':>10} {'ratio':>6} {'stored/s':>9} {'ratio':>6}")
    for row in results:
        tp = row["throughput"]
        print(
            f"{row['broker']:<10} {row['nodes']:>5} {row['start_s']:>8} {tp['publish_msg_per_s']:>10} "
            f"{tp['publish_ratio_to_mosquitto']:>6} {tp['stored_msg_per_s']:>9} {tp['stored_ratio_to_mosquitto']:>6}"
        )
    print()
    print(f"{'broker':<10} {'killed':<11} {'events':>6} {'lost':>5} {'stored once':>11} {'dups':>5} {'failovers':>9} "
          f"{'all stored s':>12} {'restart s':>9}")  # fmt: skip
    for row in results:
        for case in ("kill_edge_node", "kill_other_node"):
            if case in row:
                r = row[case]
                print(
                    f"{row['broker']:<10} {case[5:]:<11} {r['events']:>6} {r['lost']:>5} {r['stored_once']:>11} "
                    f"{r['duplicates_absorbed']:>5} {r['edge_failovers']:>9} {r['all_stored_s']:>12} "
                    f"{r['restart_s']:>9}"
                )


if __name__ == "__main__":
    main()
