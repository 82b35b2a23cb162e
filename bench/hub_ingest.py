"""Hub ingest throughput (messages/s validated, stored, committed and acked) beside a plain paho subscriber.

Starts its own Mosquitto on a free loopback port. A publisher in a child process sends N messages at QoS 1
(at most ``window`` unacknowledged); in the same run, measured on the receiving side:

- ``plain``: a plain paho QoS 1 subscriber that only counts messages (the baseline);
- ``hub``: ``hub.ingest.Ingestor`` on a fresh SQLite file: parse, validate, dedup, store, alarms, ack after commit;
- ``pipeline``: ``MessagePipeline.process`` alone, no MQTT (the storage ceiling).

Rate = N / (publish start -> last message received / committed). ``--kind`` picks readings (the bulk of real
traffic) or events (each stored, attached to alarms: raise/clear cycles over the b2 smoke detectors).
Run: ``.venv/bin/python bench/hub_ingest.py [--messages 5000] [--kind reading|event|both] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from compound import wire  # noqa: E402
from compound.config import Compound, load_config  # noqa: E402
from hub.db import Database, default_url  # noqa: E402
from hub.ingest import Inbound, Ingestor, IngestSettings, MessagePipeline  # noqa: E402
from tests.hub.helpers import HubThread, event_topic, make_event  # noqa: E402
from tests.servers import MosquittoServer  # noqa: E402


def messages(compound: Compound, n: int, kind: str) -> list[tuple[str, bytes]]:
    """N realistic (topic, payload) pairs for one edge."""
    devices = [d.id for d in compound.devices_of_edge("b2") if d.id.endswith("-smoke")]
    out: list[tuple[str, bytes]] = []
    for i in range(n):
        device = devices[i % len(devices)]
        if kind == "event":
            state = "raised" if (i // len(devices)) % 2 == 0 else "cleared"
            event = make_event(compound, device, seq=i, state=state)
            out.append((event_topic(compound, event), wire.dump(event)))
        else:
            reading = wire.Reading(
                compound=compound.id,
                edge="b2",
                device=device,
                quantity="smoke",
                value=0.01,
                unit="dB/m",
                at=wire.utcnow(),
                battery=87.0,
            )
            out.append((wire.topic(compound.id, "b2", "reading", device), wire.dump(reading)))
    return out


def publish(host: str, port: int, payloads: list[tuple[str, bytes]], window: int, started: Any) -> None:
    """Child process: publish everything at QoS 1 with a bounded in-flight window."""
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="bench-publisher")
    client.max_inflight_messages_set(window)
    client.connect(host, port)
    client.loop_start()
    started.value = time.time()
    infos = [client.publish(topic, payload, qos=1) for topic, payload in payloads]
    for info in infos:
        info.wait_for_publish(120)
    client.disconnect()
    client.loop_stop()


def run_publisher(server: MosquittoServer, payloads: list[tuple[str, bytes]], window: int) -> tuple[Any, Any]:
    ctx = multiprocessing.get_context("spawn")
    started = ctx.Value("d", 0.0)
    proc = ctx.Process(target=publish, args=(server.host, server.port, payloads, window, started))
    proc.start()
    return proc, started


def measure_plain(server: MosquittoServer, compound: Compound, payloads: list[tuple[str, bytes]], window: int) -> float:
    n = len(payloads)
    done = threading.Event()
    last = [0.0]
    count = [0]

    def on_message(_c: Any, _u: Any, _m: Any) -> None:
        count[0] += 1
        if count[0] == n:
            last[0] = time.time()
            done.set()

    sub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="bench-plain")
    sub.on_message = on_message
    sub.connect(server.host, server.port)
    sub.subscribe(wire.subscription(compound.prefix, compound.id), qos=1)
    sub.loop_start()
    time.sleep(0.5)
    proc, started = run_publisher(server, payloads, window)
    done.wait(300)
    proc.join(60)
    sub.disconnect()
    sub.loop_stop()
    return n / (last[0] - started.value)


def measure_hub(server: MosquittoServer, compound: Compound, payloads: list[tuple[str, bytes]], window: int) -> float:
    n = len(payloads)
    db = Database(default_url(tempfile.mkdtemp(prefix="hub-bench-")))
    db.create()
    settings = IngestSettings(replica=f"bench-{time.time_ns()}")  # a fresh session: nothing queued from before
    ingestor = Ingestor(db, compound, host=server.host, port=server.port, broker_kind="mosquitto", settings=settings)
    hub = HubThread(ingestor).start()
    proc, started = run_publisher(server, payloads, window)
    deadline = time.monotonic() + 300
    while ingestor.pipeline.processed < n and time.monotonic() < deadline:
        time.sleep(0.002)
    finished = time.time()
    proc.join(60)
    hub.stop()
    db.dispose()
    return n / (finished - started.value)


def measure_pipeline(compound: Compound, payloads: list[tuple[str, bytes]], batch: int = 200) -> float:
    db = Database(default_url(tempfile.mkdtemp(prefix="hub-bench-")))
    db.create()
    pipeline = MessagePipeline(db, compound)
    now = datetime.now(UTC)
    items = [Inbound(topic, payload, now) for topic, payload in payloads]
    t0 = time.perf_counter()
    for i in range(0, len(items), batch):
        pipeline.process(items[i : i + batch])
    rate = len(items) / (time.perf_counter() - t0)
    db.dispose()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--window", type=int, default=200, help="publisher's QoS 1 in-flight window")
    parser.add_argument("--kind", choices=["reading", "event", "both"], default="both")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    compound = load_config(ROOT / "configs")
    results: list[dict[str, Any]] = []
    for kind in ("reading", "event") if args.kind == "both" else (args.kind,):
        payloads = messages(compound, args.messages, kind)
        # A fresh broker per kind: a persistent hub session left behind would make Mosquitto queue (and
        # autosave) every later message for it, slowing the next measurement.
        server = MosquittoServer(Path(tempfile.mkdtemp(prefix="hub-bench-mosq-")))
        server.start()
        try:
            plain = measure_plain(server, compound, payloads, args.window)
            hub = measure_hub(server, compound, payloads, args.window)
        finally:
            server.stop()
        pipeline = measure_pipeline(compound, payloads)
        results.append(
            {
                "kind": kind,
                "messages": args.messages,
                "plain_msg_s": round(plain),
                "hub_msg_s": round(hub),
                "hub_vs_plain": round(hub / plain, 2),
                "pipeline_only_msg_s": round(pipeline),
            }
        )
    meta = {"python": platform.python_version(), "machine": platform.machine(), "broker": "mosquitto"}
    if args.json:
        print(json.dumps({"meta": meta, "results": results}))
        return
    print(f"{'kind':8} {'messages':>8} {'plain msg/s':>12} {'hub msg/s':>10} {'hub/plain':>9} {'pipeline-only':>14}")
    for r in results:
        print(
            f"{r['kind']:8} {r['messages']:>8} {r['plain_msg_s']:>12} {r['hub_msg_s']:>10} {r['hub_vs_plain']:>9} "
            f"{r['pipeline_only_msg_s']:>14}"
        )


if __name__ == "__main__":
    main()
