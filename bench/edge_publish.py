"""Events/s through the edge outbox at QoS 1, beside plain paho QoS 1 with the same in-flight window.

Starts its own Mosquitto on a free loopback port, then in the same run measures, for N messages of a
realistic event payload (~600 bytes):

- ``paho``: plain paho-mqtt QoS 1, at most ``window`` unacknowledged (the baseline);
- ``outbox-full``: each event stored by ``Outbox.put_sequenced`` (one transaction, synchronous=FULL:
  an fsync per event, as the agent stores events) and published by ``Publisher`` (same window),
  deleted on PUBACK;
- ``outbox-normal``: the same with synchronous=NORMAL (survives a crash, not a power cut);
- ``outbox-tick``: events stored 100 per transaction (as the agent stores one tick's events, and
  its readings), synchronous=FULL.

Throughput is N / (first store or publish -> last PUBACK). With ``--rounds R`` (default 3) the modes run R
times in turn (paho, then each outbox mode, again), and each mode's figure is the median of its rounds, its
ratio the median of its per-round ratios to that round's paho: on a shared machine one paho run alone swung
the ratio by 2x. Prints a table; ``--json`` prints JSON.
Run: ``.venv/bin/python bench/edge_publish.py [--messages 5000] [--window 64] [--rounds 3] [--json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
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
from edge.outbox import Outbox  # noqa: E402
from edge.publisher import LastWill, Publisher  # noqa: E402
from tests.servers import MosquittoServer  # noqa: E402

TOPIC = "compound/v1/bench/b2/event/b2-u1-1502-smoke"


def payload(seq: int) -> bytes:
    """A realistic smoke event of the wire contract."""
    event = wire.Event(
        id=wire.new_event_id(),
        seq=seq,
        compound="bench",
        edge="b2",
        device="b2-u1-1502-smoke",
        kind=wire.EventKind.SMOKE,
        state=wire.EventState.RAISED,
        severity=wire.Severity.CRITICAL,
        value=0.192,
        unit="dB/m",
        threshold=0.15,
        location=wire.Location(building="b2", unit="u1", floor=15, flat="1502"),
        occurred_at=datetime.now(UTC),
        message="smoke 0.192 dB/m at b2/u1/1502, above 0.15 dB/m for 10 s",
    )
    return wire.dump(event)


def bench_paho(port: int, n: int, window: int) -> float:
    """Plain paho QoS 1 with a bounded window; return seconds from first publish to last PUBACK."""
    done = threading.Semaphore(window)
    acked = threading.Event()
    count = [0]
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-paho", protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(window)

    def on_publish(c: mqtt.Client, u: object, mid: int, rc: object, p: object) -> None:
        count[0] += 1
        done.release()
        if count[0] == n:
            acked.set()

    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    payloads = [payload(i + 1) for i in range(n)]
    start = time.perf_counter()
    for body in payloads:
        done.acquire()
        client.publish(TOPIC, body, qos=1)
    if not acked.wait(timeout=300):
        raise RuntimeError(f"paho: only {count[0]} of {n} acknowledged")
    elapsed = time.perf_counter() - start
    client.disconnect()
    client.loop_stop()
    return elapsed


async def bench_outbox(port: int, n: int, window: int, folder: Path, sync: str, batch: int) -> float:
    """Outbox + Publisher; ``batch`` > 1 stores that many events per transaction."""
    box = Outbox(folder / f"bench-{sync}-{batch}.db", max_messages=n + 10, max_readings=n + 1, synchronous=sync)  # type: ignore[arg-type]
    status = LastWill("compound/v1/bench/b2/status", lambda: b"online", lambda: b"offline")
    pub = Publisher(box, host="127.0.0.1", port=port, client_id=f"bench-outbox-{sync}-{batch}", status=status,
                    window=window)  # fmt: skip
    pub.start()
    pump = asyncio.create_task(pub.run())
    while not pub.connected.is_set():
        await asyncio.sleep(0.01)
    payloads = [payload(i + 1) for i in range(n)]
    start = time.perf_counter()
    if batch <= 1:
        for i, body in enumerate(payloads):
            box.put_sequenced(lambda seq, b=body: (TOPIC, b))  # type: ignore[misc]
            if i % 16 == 15:
                pub.poke()
                await asyncio.sleep(0)
    else:
        for i in range(0, n, batch):
            box.put_sequenced_many([(lambda seq, b=body: (TOPIC, b), {}) for body in payloads[i : i + batch]])  # type: ignore[misc]
            pub.poke()
            await asyncio.sleep(0)
    pub.poke()
    deadline = time.monotonic() + 300
    while pub.acked < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"outbox: only {pub.acked} of {n} acknowledged")
        pub.poke()
        await asyncio.sleep(0.001)
    elapsed = time.perf_counter() - start
    assert box.depth() == 0, "acknowledged rows must be deleted"
    pump.cancel()
    await pub.stop()
    box.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000, help="messages per mode (default 5000)")
    parser.add_argument("--window", type=int, default=64, help="QoS 1 in-flight window (default 64)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of every mode, in turn (default 3)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    modes = {"outbox-full": ("FULL", 1), "outbox-normal": ("NORMAL", 1), "outbox-tick": ("FULL", 100)}
    results: dict[str, list[float]] = {mode: [] for mode in ("paho", *modes)}
    with tempfile.TemporaryDirectory(prefix="bench-edge-") as tmp:
        server = MosquittoServer(Path(tmp) / "mosquitto")
        server.start()
        try:
            for round_ in range(args.rounds):
                folder = Path(tmp) / f"round-{round_}"
                folder.mkdir()
                results["paho"].append(bench_paho(server.port, args.messages, args.window))
                for mode, (sync, batch) in modes.items():
                    results[mode].append(
                        asyncio.run(bench_outbox(server.port, args.messages, args.window, folder, sync, batch))
                    )
        finally:
            server.stop()

    rows: list[dict[str, Any]] = []
    for mode, runs in results.items():
        ratios = [paho / seconds for paho, seconds in zip(results["paho"], runs, strict=True)]
        seconds = statistics.median(runs)
        rows.append({"mode": mode, "messages": args.messages, "seconds": round(seconds, 3),
                     "msg_per_s": round(args.messages / seconds, 1),
                     "ratio_to_paho": round(statistics.median(ratios), 3),
                     "ratios": [round(r, 3) for r in ratios]})  # fmt: skip
    report = {
        "benchmark": "edge_publish",
        "broker": "mosquitto (loopback, own process)",
        "window": args.window,
        "rounds": args.rounds,
        "load": round(os.getloadavg()[0], 1),
        "payload_bytes": len(payload(1)),
        "machine": f"{platform.machine()} {platform.python_implementation()} {platform.python_version()}",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "results": rows,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"edge_publish: {args.messages} messages of {report['payload_bytes']} B, QoS 1, window {args.window}, "
          f"Mosquitto on loopback; median of {args.rounds} round(s), load {report['load']}")  # fmt: skip
    print(f"{'mode':<15}{'seconds':>10}{'msg/s':>12}{'vs paho':>10}  per round")
    for row in rows:
        each = " ".join(f"{r:.2f}" for r in row["ratios"])
        print(f"{row['mode']:<15}{row['seconds']:>10.3f}{row['msg_per_s']:>12.1f}{row['ratio_to_paho']:>10.3f}  {each}")


if __name__ == "__main__":
    main()
