"""End-to-end latency: an event stored in an edge's outbox -> the alarm pushed on the console's live stream.

Starts its own Mosquitto on a free loopback port and, in the same run:

- ``raw hop``: a plain paho QoS 1 publisher -> a plain paho QoS 1 subscriber, one message every 1/rate s;
  latency = receive time - publish time (the broker hop alone).
- ``end to end``: the real edge publishing path (``tests/edge/scripted.py``: on-disk outbox, journal,
  publisher with its in-flight window) feeds ``compound hub`` running as its own process (ingest, store,
  alarm, routing, API); a client holds ``GET /api/v1/alarms/stream`` open as the property manager. One new
  smoke or gas alarm every 1/rate s, each on its own device; latency = the ``raised`` change arriving on the
  stream - the moment the event was handed to the outbox. Before it, ``--warmup`` alarms (default 1) on building 1,
  through an edge of their own, are raised and not measured: a running hub has handled an alarm before, and the
  first one pays one-off costs (imports, statement compilation, the first card). The measured alarms open two new
  incidents (one per unit), whose notifications are delivered while the measurement runs.
- ``ingest``: hub ingest throughput beside a plain subscriber (``bench/hub_ingest.py``'s measurement, events).

Prints p50/p90/p99/max of both latencies, the p99 ratio and the goal (p99 end to end <= 3 x raw p99 + 20 ms;
ingest >= 70 % of the plain subscriber). Run:
``.venv/bin/python bench/e2e_latency.py [--rate 50] [--events 250] [--warmup 1] [--ingest-messages 3000] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from bench.hub_ingest import measure_hub, measure_plain, messages  # noqa: E402
from compound import wire  # noqa: E402
from compound.cli.runner import free_port, http_ok  # noqa: E402
from compound.config import Compound, load_config  # noqa: E402
from hub.web.auth import TokenSigner, load_secret_key  # noqa: E402
from tests.edge.scripted import ScriptedEdge  # noqa: E402
from tests.hub.helpers import make_event  # noqa: E402
from tests.servers import MosquittoServer  # noqa: E402


def percentiles(samples_s: list[float]) -> dict[str, float]:
    """p50/p90/p99/max in milliseconds."""
    ms = sorted(s * 1000 for s in samples_s)
    if not ms:
        return {"n": 0}
    cuts = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else [ms[0]] * 99
    return {
        "n": len(ms),
        "p50_ms": round(cuts[49], 3),
        "p90_ms": round(cuts[89], 3),
        "p99_ms": round(cuts[98], 3),
        "max_ms": round(ms[-1], 3),
    }


def paced(n: int, rate: float) -> Any:
    """Yield 0..n-1, one every 1/rate s on a fixed schedule (no drift)."""
    start = time.perf_counter()
    for i in range(n):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        yield i


def raw_hop(server: MosquittoServer, n: int, rate: float) -> list[float]:
    """Plain publisher -> plain subscriber latencies (s), QoS 1, paced."""
    received: dict[int, float] = {}
    done = threading.Event()

    def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        received[int(msg.payload.split(b" ", 1)[0])] = time.time()
        if len(received) == n:
            done.set()

    sub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="bench-e2e-sub")
    sub.on_message = on_message
    sub.connect(server.host, server.port)
    sub.subscribe("bench/raw", qos=1)
    sub.loop_start()
    pub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="bench-e2e-pub")
    pub.connect(server.host, server.port)
    pub.loop_start()
    time.sleep(0.5)
    sent: dict[int, float] = {}
    padding = b"x" * 600  # about the size of an event message
    for i in paced(n, rate):
        sent[i] = time.time()
        pub.publish("bench/raw", b"%d " % i + padding, qos=1)
    done.wait(60)
    for client in (pub, sub):
        client.disconnect()
        client.loop_stop()
    return [received[i] - sent[i] for i in sent if i in received]


class StreamClient:
    """Holds the console's live stream open; records when each (device, change) first arrives."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.arrivals: dict[tuple[str, str], float] = {}
        self.opened = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="sse")

    def start(self) -> StreamClient:
        self._thread.start()
        if not self.opened.wait(15):
            raise RuntimeError("the live stream did not open")
        return self

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "text/event-stream"}
        with (
            httpx.Client(timeout=httpx.Timeout(10.0, read=None)) as client,
            client.stream("GET", f"{self.url}/api/v1/alarms/stream", headers=headers) as response,
        ):
            response.raise_for_status()
            self.opened.set()
            kind = ""
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:") and kind == "alarm":
                    now = time.time()
                    change = json.loads(line[5:])
                    self.arrivals.setdefault((change["alarm"]["device"], change["change"]), now)
                elif not line:
                    kind = ""

    def stop(self) -> None:
        self._stop.set()


def event_for(compound: Compound, device: str, kind: str) -> Callable[[int], wire.Event]:
    """A raise for ``device`` built for the seq the outbox assigns, stamped now."""
    return lambda seq: make_event(compound, device, seq=seq, kind=kind, at=wire.utcnow())


def end_to_end(
    server: MosquittoServer, compound: Compound, n: int, rate: float, workdir: Path, warmup: int = 1
) -> dict[str, Any]:
    """Edge outbox -> broker -> ``compound hub`` -> live stream latencies (s) for ``n`` new alarms, after ``warmup``
    alarms on another building that are not measured."""
    data = workdir / "hub"
    port = free_port()
    log = open(workdir / "hub.log", "wb")  # noqa: SIM115 - the child's log, closed below
    hub = subprocess.Popen(
        [
            *(sys.executable, "-m", "compound.cli", "hub", "--broker", server.url, "--broker-kind", "mosquitto"),
            *("--data-dir", str(data), "--port", str(port), "--config", str(ROOT / "configs")),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    edge: ScriptedEdge | None = None
    warm_edge: ScriptedEdge | None = None
    stream: StreamClient | None = None
    try:
        deadline = time.monotonic() + 60
        while not http_ok(f"{url}/healthz"):
            if hub.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"compound hub did not come up; see {workdir / 'hub.log'}")
            time.sleep(0.1)
        token = TokenSigner(load_secret_key(data)).issue_for(compound, "p-feng-yu")
        stream = StreamClient(url, token).start()
        # A plain subscriber beside the hub splits the path: edge (outbox + publisher) | hub (ingest -> stream).
        on_broker: dict[str, float] = {}

        def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
            on_broker.setdefault(msg.topic.rsplit("/", 1)[1], time.time())

        tap = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="bench-e2e-tap")
        tap.on_message = on_message
        tap.connect(server.host, server.port)
        tap.subscribe(f"{compound.prefix}/v1/{compound.id}/b2/event/+", qos=1)
        tap.loop_start()
        if warmup:
            # One alarm elsewhere first (building 1, its own edge and incident), as any running hub has handled:
            # the hub's first alarm pays one-off costs (lazy imports, statement compilation, the first card). The
            # measured alarms still open new incidents of their own, whose deliveries run during the measurement.
            # It stays connected until the end: an edge that goes away raises edge_offline (supervised links).
            warm_edge = ScriptedEdge(compound, "b1", server.host, server.port, workdir / "edge-warm").start()
            warm = [d.id for d in compound.devices_of_edge("b1") if d.id.endswith("-smoke")][:warmup]
            for device in warm:
                warm_edge.put(event_for(compound, device, "smoke"))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not all((d, "raised") in stream.arrivals for d in warm):
                time.sleep(0.05)
            time.sleep(2.0)  # its deliveries and their retries settle
        edge = ScriptedEdge(compound, "b2", server.host, server.port, workdir / "edge").start()
        devices = [(d.id, d.id.rsplit("-", 1)[1]) for d in compound.devices_of_edge("b2")]
        devices = [(d, k) for d, k in devices if k in ("smoke", "gas")][:n]
        if len(devices) < n:
            raise ValueError(f"--events is at most {len(devices)} (one new alarm per b2 smoke/gas detector)")
        time.sleep(0.5)
        sent: dict[str, float] = {}
        for i in paced(n, rate):
            device, kind = devices[i]
            sent[device] = time.time()
            edge.put(event_for(compound, device, kind))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and sum((d, "raised") in stream.arrivals for d in sent) < n:
            time.sleep(0.05)
        tap.disconnect()
        tap.loop_stop()
        arrived = {d: stream.arrivals[(d, "raised")] for d in sent if (d, "raised") in stream.arrivals}
        return {
            "latencies": [arrived[d] - sent[d] for d in arrived],
            "edge_part": [on_broker[d] - sent[d] for d in arrived if d in on_broker],
            "hub_part": [arrived[d] - on_broker[d] for d in arrived if d in on_broker],
            "lost": n - len(arrived),
        }
    finally:
        if stream is not None:
            stream.stop()
        for one in (edge, warm_edge):
            if one is not None:
                one.stop()
        hub.terminate()
        try:
            hub.wait(30)
        except subprocess.TimeoutExpired:
            hub.kill()
            hub.wait(10)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rate", type=float, default=50.0, help="events per second, steady (default 50)")
    parser.add_argument("--events", type=int, default=250, help="new alarms end to end (max 288; default 250)")
    parser.add_argument(
        "--warmup", type=int, default=1, help="alarms on building 1 before measuring, not counted (default 1; 0: none)"
    )
    parser.add_argument("--raw", type=int, default=1000, help="messages for the raw hop (default 1000)")
    parser.add_argument("--ingest-messages", type=int, default=3000, help="events for the ingest rate (0: skip)")
    parser.add_argument("--window", type=int, default=200, help="publisher in-flight window for ingest")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    compound = load_config(ROOT / "configs")
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        workdir = Path(tmp)
        server = MosquittoServer(workdir / "mosquitto")
        server.start()
        try:
            raw = percentiles(raw_hop(server, args.raw, args.rate))
            e2e_run = end_to_end(server, compound, args.events, args.rate, workdir, args.warmup)
            e2e = percentiles(e2e_run["latencies"])
            ingest: dict[str, Any] = {}
            if args.ingest_messages:
                # A broker of its own: the stopped hub's persistent session still holds a share of `$share/hub`.
                fresh = MosquittoServer(workdir / "mosquitto-ingest")
                fresh.start()
                try:
                    payloads = messages(compound, args.ingest_messages, "event")
                    plain = measure_plain(fresh, compound, payloads, args.window)
                    hub = measure_hub(fresh, compound, payloads, args.window)
                finally:
                    fresh.stop()
                ingest = {
                    "messages": args.ingest_messages,
                    "plain_msg_s": round(plain),
                    "hub_msg_s": round(hub),
                    "hub_over_plain": round(hub / plain, 3),
                }
        finally:
            server.stop()
    goal_ms = 3 * raw.get("p99_ms", 0.0) + 20
    result = {
        "rate_per_s": args.rate,
        "warmup_alarms": args.warmup,
        "raw_hop": raw,
        "end_to_end": {**e2e, "lost": e2e_run["lost"]},
        "edge_outbox_to_subscriber": percentiles(e2e_run["edge_part"]),
        "hub_subscriber_to_stream": percentiles(e2e_run["hub_part"]),
        "p99_ratio": round(e2e["p99_ms"] / raw["p99_ms"], 2) if raw.get("p99_ms") and e2e.get("p99_ms") else None,
        "goal_p99_ms": round(goal_ms, 3),
        "p99_goal_met": bool(e2e.get("p99_ms") is not None and e2e["p99_ms"] <= goal_ms),
        "ingest": ingest,
        "ingest_goal_met": bool(ingest) and ingest["hub_over_plain"] >= 0.7,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load": os.getloadavg()[0]},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"steady rate {args.rate:g}/s over Mosquitto (load {result['machine']['load']:.1f}, {os.cpu_count()} CPUs)")
    print(f"{'':<40}{'n':>6}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    rows = (
        ("raw hop (paho -> paho, QoS 1)", raw),
        ("edge outbox -> console stream", e2e),
        ("  of which edge outbox -> a subscriber", result["edge_outbox_to_subscriber"]),
        ("  of which broker -> hub -> stream", result["hub_subscriber_to_stream"]),
    )
    for name, row in rows:
        cells = "".join(f"{row.get(k, float('nan')):>10.2f}" for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms"))
        print(f"{name:<40}{row.get('n', 0):>6}{cells}")
    met = "met" if result["p99_goal_met"] else "NOT met"
    print(f"p99 ratio {result['p99_ratio']}x; goal p99 <= 3 x raw + 20 ms = {goal_ms:.1f} ms: {met}")
    if e2e_run["lost"]:
        print(f"{e2e_run['lost']} alarm(s) never arrived on the stream")
    if ingest:
        met = "met" if result["ingest_goal_met"] else "NOT met"
        print(
            f"ingest ({ingest['messages']} events): plain subscriber {ingest['plain_msg_s']} msg/s, hub "
            f"{ingest['hub_msg_s']} msg/s = {ingest['hub_over_plain']:.0%} (goal >= 70 %: {met})"
        )


if __name__ == "__main__":
    main()
