"""Replay throughput: messages/s that ``compound replay --as-fast-as-possible`` publishes, beside raw paho.

Starts its own Mosquitto on a free loopback port, writes a recording of N wire messages (readings of 435
devices with a few events and heartbeats, as an edge publishes them, ~190 B each) and, in the same run,
measures:

- ``read``: reading the messages back out of the MCAP file alone (zstd chunks, no broker);
- ``paho``: a plain paho-mqtt QoS 1 publisher of the same messages, already in memory, at most ``window``
  unacknowledged (the baseline: the fastest a Python publisher gets them acknowledged);
- ``replay``: ``compound replay``'s ``Replayer`` reading the file and publishing, same window.

Throughput is N / (first publish -> last PUBACK). Prints a table; ``--json`` prints JSON.
Run: ``.venv/bin/python bench/replay.py [--messages 20000] [--window 64] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from compound import wire  # noqa: E402
from compound.cli.commands.replay import Replayer  # noqa: E402
from compound.recording import RecordedMessage, Recording, RecordingWriter, to_ns  # noqa: E402
from tests.servers import MosquittoServer  # noqa: E402

COMPOUND = "sunrise-garden"


def messages(n: int) -> list[RecordedMessage]:
    """N messages as an edge publishes them: readings round-robin over 435 devices, an event every 500."""
    at = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
    out = []
    for i in range(n):
        device = f"b2-u{i % 3 + 1}-{(i // 3) % 145 + 101}-smoke"
        when = at + timedelta(milliseconds=10 * i)
        if i % 500 == 499:
            event = wire.Event(id=wire.new_event_id(), seq=i // 500 + 1, compound=COMPOUND, edge="b2", device=device,
                               kind=wire.EventKind.SMOKE, state=wire.EventState.UPDATED,
                               severity=wire.Severity.CRITICAL, value=0.2, unit="dB/m", threshold=0.15,
                               location=wire.Location(building="b2", unit="u1", floor=15, flat="1502"),
                               occurred_at=when, message="smoke 0.2 dB/m")  # fmt: skip
            topic, payload = wire.topic(COMPOUND, "b2", wire.MessageType.EVENT, device), wire.dump(event)
        else:
            reading = wire.Reading(compound=COMPOUND, edge="b2", device=device, quantity="smoke", value=0.01,
                                   unit="dB/m", battery=87.0, at=when)  # fmt: skip
            topic, payload = wire.topic(COMPOUND, "b2", wire.MessageType.READING, device), wire.dump(reading)
        out.append(RecordedMessage(topic, payload, 1, False, to_ns(when)))
    return out


def bench_read(path: Path) -> tuple[float, int]:
    """Seconds to read every message out of the file."""
    start = time.perf_counter()
    count = sum(1 for _ in Recording(path).messages())
    return time.perf_counter() - start, count


def bench_paho(port: int, batch: list[RecordedMessage], window: int) -> float:
    """Plain paho QoS 1, bounded window, messages in memory; seconds from first publish to last PUBACK."""
    slots = threading.Semaphore(window)
    acked = threading.Event()
    count = [0]
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-replay-paho", protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(window)

    def on_publish(c: mqtt.Client, u: object, mid: int, rc: object, p: object) -> None:
        count[0] += 1
        slots.release()
        if count[0] == len(batch):
            acked.set()

    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    start = time.perf_counter()
    for m in batch:
        slots.acquire()
        client.publish(m.topic, m.payload, qos=m.qos, retain=m.retain)
    if not acked.wait(timeout=300):
        raise RuntimeError(f"paho: only {count[0]} of {len(batch)} acknowledged")
    elapsed = time.perf_counter() - start
    client.disconnect()
    client.loop_stop()
    return elapsed


def bench_replay(port: int, path: Path, window: int) -> float:
    """``Replayer`` from the file, as fast as possible; seconds from first publish to last PUBACK."""
    replayer = Replayer("127.0.0.1", port, window=window, client_id="bench-replay")
    try:
        summary = replayer.replay(Recording(path).messages(), speed=None)
    finally:
        replayer.close()
    if summary.acknowledged < summary.messages:
        raise RuntimeError(f"replay: only {summary.acknowledged} of {summary.messages} acknowledged")
    return summary.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000, help="messages (default 20000)")
    parser.add_argument("--window", type=int, default=64, help="QoS 1 in-flight window (default 64)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()

    batch = messages(args.messages)
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        folder = Path(tmp)
        path = folder / "bench.mcap"
        with RecordingWriter(path, source="bench") as writer:
            for m in batch:
                writer.message(m.topic, m.payload, m.qos, m.retain, m.time_ns)
        file_bytes = path.stat().st_size
        server = MosquittoServer(folder / "mosquitto")
        server.start()
        try:
            read_s, read_n = bench_read(path)
            assert read_n == args.messages
            results = {"read": read_s, "paho": bench_paho(server.port, batch, args.window),
                       "replay": bench_replay(server.port, path, args.window)}  # fmt: skip
        finally:
            server.stop()

    base = args.messages / results["paho"]
    rows: list[dict[str, Any]] = []
    for mode, seconds in results.items():
        rate = args.messages / seconds
        rows.append({"mode": mode, "messages": args.messages, "seconds": round(seconds, 3),
                     "msg_per_s": round(rate, 1), "ratio_to_paho": round(rate / base, 3)})  # fmt: skip
    payload_bytes = sum(len(m.payload) for m in batch)
    report = {
        "benchmark": "replay",
        "broker": "mosquitto (loopback, own process)",
        "window": args.window,
        "payload_bytes_mean": round(payload_bytes / len(batch), 1),
        "file_bytes": file_bytes,
        "compression": round(payload_bytes / file_bytes, 2),
        "machine": f"{platform.machine()} {platform.python_implementation()} {platform.python_version()}",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "results": rows,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"replay: {args.messages} messages of ~{report['payload_bytes_mean']:.0f} B, QoS 1, window {args.window}, "
          f"Mosquitto on loopback; file {file_bytes / 1024:,.0f} KiB (zstd x{report['compression']})")  # fmt: skip
    print(f"{'mode':<10}{'seconds':>10}{'msg/s':>12}{'vs paho':>10}")
    for row in rows:
        print(f"{row['mode']:<10}{row['seconds']:>10.3f}{row['msg_per_s']:>12.1f}{row['ratio_to_paho']:>10.3f}")


if __name__ == "__main__":
    main()
