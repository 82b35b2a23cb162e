"""Notification throughput and raise → first delivery latency with a large compound (10 000 households, 500 people).

Generates a compound into a temp dir from the shipped ``configs/`` (25 buildings × 4 units × 25 floors × 4 flats
= 10 000 flats, a smoke detector in each; one micro-grid per unit; 500 people: four micro-grid workers per unit on
six-hour shifts, grid leaders, the full-time grid worker, managers, security, maintenance, with rosters; a
household in every flat, one in 20 flagged for care), with a ``webhook`` channel (``channels/webhook.py``) as the
fire policy's level-0 channel, pointing at a local ``ThreadingHTTPServer`` that answers 200. Incident grouping
is off (``incidents.window_s: 0``) so that every alarm is its own notification stream. Then, in one run:

- ``throughput``: N smoke raises (default 500) for distinct flats go through the hub's real ``MessagePipeline`` on
  a SQLite file (batches of ``--batch``, as the ingestor commits them; the alarm, routing, its level-0 notification jobs
  and the next escalation step are written in the alarm's transaction), then the real ``Dispatcher`` (real
  ``WebhookChannel``, its default 8 workers) ticks until every level-0 job is delivered to the receiver. Rates:
  alarms routed (+ jobs written) per second on the ingest side, jobs delivered per second on the dispatcher
  side, and alarms notified per second end to end (N / (first event in → last job delivered)).
- ``latency``: ``compound hub`` (its own process, the generated config, its own data dir) subscribed to a
  Mosquitto of its own; smoke raises for distinct flats are published by plain paho at ``--rate``/s for
  ``--seconds`` s; latency = the receiver getting that alarm's first message - the publish. Beside it, on the
  very same messages, a plain paho subscriber on the event topics gives the raw broker hop.

Run: ``.venv/bin/python bench/notify.py [--alarms 500] [--rate 5] [--seconds 20] [--budget 170] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
import yaml  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from sqlalchemy import select  # noqa: E402

from bench.e2e_latency import paced, percentiles  # noqa: E402
from compound import wire  # noqa: E402
from compound.cli.runner import free_port, http_ok  # noqa: E402
from compound.clock import WallClock  # noqa: E402
from compound.config import Compound, load_config  # noqa: E402
from hub.alarms.changes import AlarmChanges  # noqa: E402
from hub.db import Alarm, Database, JobState, NotificationJob, default_url  # noqa: E402
from hub.ingest import Inbound, MessagePipeline  # noqa: E402
from hub.notify.runtime import NotifyRuntime  # noqa: E402
from hub.notify.settings import load_channel_configs  # noqa: E402
from tests.hub.helpers import event_topic, make_event  # noqa: E402
from tests.servers import MosquittoServer  # noqa: E402

BUILDINGS, UNITS, FLOORS, FLATS_PER_FLOOR = 25, 4, 25, 4
PEOPLE = 500
BUILDINGS_PER_GENERAL = 5
CARE_EVERY = 20
DAY, NIGHT = {"start": "08:00", "end": "20:00"}, {"start": "20:00", "end": "08:00"}
UNIT_SHIFTS = [("08:00", "14:00"), ("14:00", "20:00"), ("20:00", "02:00"), ("02:00", "08:00")]
"""Each micro-grid (a unit of 100 flats) has four workers on six-hour shifts."""


# --------------------------------------------------------------------------- the large compound


def _dump(path: Path, data: dict[str, Any]) -> None:
    """YAML with one JSON flow entry per line (PyYAML's pure-Python dumper takes seconds at this size)."""
    lines: list[str] = []
    for key, value in data.items():
        if isinstance(value, list) and value:
            lines.append(f"{key}:")
            lines += [f"  - {json.dumps(item, ensure_ascii=False)}" for item in value]
        else:
            lines.append(f"{key}: {json.dumps(value, ensure_ascii=False)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _phone(n: int) -> str:
    return f"+86 138 {n // 10000:04d} {n % 10000:04d}"


def generate_config(out: Path, webhook_url: str) -> dict[str, int]:
    """Write a 10 000-flat, 500-person compound into ``out`` (from the shipped ``configs/``); its counts."""
    out.mkdir(parents=True, exist_ok=True)
    shipped = yaml.safe_load((ROOT / "configs" / "compound.yaml").read_text(encoding="utf-8"))
    buildings = [f"b{b}" for b in range(1, BUILDINGS + 1)]
    units = [f"u{u}" for u in range(1, UNITS + 1)]
    shipped["buildings"] = [
        {"id": b, "name": f"{i}号楼", "units": units, "floors": FLOORS, "flats_per_floor": FLATS_PER_FLOOR}
        for i, b in enumerate(buildings, 1)
    ]
    shipped["sites"] = []
    _dump(out / "compound.yaml", shipped)

    generals = [buildings[i : i + BUILDINGS_PER_GENERAL] for i in range(0, BUILDINGS, BUILDINGS_PER_GENERAL)]
    general_ids = [f"g-{i}" for i in range(1, len(generals) + 1)]
    general_of = {b: g for g, bs in zip(general_ids, generals, strict=True) for b in bs}
    micro = [(f"mg-{b}-{u}", b, u) for b in buildings for u in units]
    _dump(
        out / "grids.yaml",
        {
            "total": {"id": "g-total", "name": "总网格"},
            "general": [
                {"id": g, "name": f"第{i}片区一般网格", "buildings": bs}
                for i, (g, bs) in enumerate(zip(general_ids, generals, strict=True), 1)
            ],
            "micro": [
                {"id": m, "name": f"{b}-{u}微网格", "general": general_of[b], "building": b, "unit": u}
                for m, b, u in micro
            ],
            "dedicated": [],
        },
    )

    people: list[dict[str, Any]] = []
    rosters: list[dict[str, Any]] = []

    def person(pid: str, role: str, grids: list[str] | None = None) -> str:
        entry: dict[str, Any] = {"id": pid, "name": f"员工{len(people) + 1}", "role": role}
        entry["phone"] = _phone(len(people) + 1)
        if grids:
            entry["grids"] = grids
        people.append(entry)
        return pid

    for m, _b, _u in micro:
        shifts = [
            {"person": person(f"p-{m}-{i}", "micro_grid_worker", [m]), "window": {"start": start, "end": end}}
            for i, (start, end) in enumerate(UNIT_SHIFTS, 1)
        ]
        rosters.append({"id": f"r-{m}", "role": "micro_grid_worker", "grid": m, "shifts": shifts})
    for g in general_ids:
        person(f"p-leader-{g}", "grid_leader", [g])
    person("p-fulltime", "full_time_grid_worker", ["g-total"])
    managers = [person(f"p-manager-{i}", "property_manager", ["g-total"]) for i in (1, 2)]
    rosters.append(
        {
            "id": "r-managers",
            "role": "property_manager",
            "shifts": [{"person": managers[0], "window": DAY}, {"person": managers[1], "window": NIGHT}],
        }
    )
    security = [person(f"p-security-{i}", "property_security") for i in (1, 2, 3)]
    windows = [
        {"start": "08:00", "end": "16:00"},
        {"start": "16:00", "end": "00:00"},
        {"start": "00:00", "end": "08:00"},
    ]
    rosters.append(
        {
            "id": "r-security",
            "role": "property_security",
            "shifts": [{"person": p, "window": w} for p, w in zip(security, windows, strict=True)],
        }
    )
    maintenance = [person(f"p-maint-{i}", "maintenance") for i in range(1, PEOPLE - len(people) + 1)]
    rosters.append(
        {
            "id": "r-maintenance",
            "role": "maintenance",
            "shifts": [{"person": maintenance[0], "window": DAY}, {"person": maintenance[1], "window": NIGHT}],
        }
    )
    _dump(out / "people.yaml", {"people": people, "rosters": rosters})

    households: list[dict[str, Any]] = [
        {
            "building": b,
            "unit": u,
            "flat": str(floor * 100 + f),
            "residents": [{"name": f"住户{b}{u}{floor * 100 + f}", "age": 30 + (floor + f) % 50}],
        }
        for b in buildings
        for u in units
        for floor in range(1, FLOORS + 1)
        for f in range(1, FLATS_PER_FLOOR + 1)
    ]
    for i, household in enumerate(households[::CARE_EVERY]):  # elderly living alone: care lines on their cards
        household["residents"] = [{"name": f"独居老人{i + 1}", "age": 80, "phone": _phone(50000 + i)}]
        contact = {"name": f"家属{i + 1}", "relation": "女儿", "phone": _phone(60000 + i)}
        household["care"] = {"reason": "elderly_alone", "emergency_contact": contact}
    _dump(out / "households.yaml", {"households": households})
    _dump(out / "devices.yaml", {"rules": [{"type": "smoke_detector", "every": "flat"}], "devices": []})

    escalation = yaml.safe_load((ROOT / "configs" / "escalation.yaml").read_text(encoding="utf-8"))
    fire = next(p for p in escalation["policies"] if p["id"] == "fire-gas")
    # Level 0 by the webhook only, no reminder within the run: each alarm makes exactly one level-0 job.
    fire["levels"][0] = {"to": "routed", "ack_timeout_s": 600, "channels": ["hook"]}
    escalation["resources"] = [r for r in escalation["resources"] if r["building"] in buildings]
    escalation["incidents"] = {"window_s": 0}
    _dump(out / "escalation.yaml", escalation)
    _dump(
        out / "channels.yaml",
        {
            "channels": [
                {"id": "inbox", "type": "inbox"},
                {"id": "webpush", "type": "webpush", "contact": "mailto:ops@example.org"},
                {"id": "hook", "type": "webhook", "url": webhook_url, "personal": True},
            ]
        },
    )
    return {
        "flats": len(households),
        "households": len(households),
        "care_households": len(households[::CARE_EVERY]),
        "people": len(people),
        "micro_grids": len(micro),
    }


# --------------------------------------------------------------------------- the webhook receiver


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A sender hanging up (the hub stopping mid-request) is not the bench's error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Receiver:
    """A local webhook endpoint (``ThreadingHTTPServer``, answers 200): when each job and each alarm first arrived."""

    def __init__(self) -> None:
        self.jobs: dict[str, float] = {}
        self.alarms: dict[int, float] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                now = time.time()
                job = self.headers.get("X-Compound-Job", "")
                cards = json.loads(body).get("cards", [])
                with receiver.lock:
                    receiver.jobs.setdefault(job, now)
                    for card in cards:
                        receiver.alarms.setdefault(int(card["alarm_id"]), now)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="webhook")

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.jobs.clear()
            self.alarms.clear()


def spread_devices(compound: Compound, n: int, skip: int = 0) -> list[str]:
    """``n`` smoke detectors in distinct flats, spread over every unit (``skip``: an offset so runs differ)."""
    smoke = sorted(d for d in compound.devices if d.endswith("-smoke"))
    step = max(1, len(smoke) // max(n, 1))
    picked = [smoke[(i * step + skip) % len(smoke)] for i in range(n)]
    if len(set(picked)) < n:
        raise ValueError(f"at most {len(smoke)} distinct flats")
    return picked


# --------------------------------------------------------------------------- 1. throughput


def throughput(
    compound: Compound, receiver: Receiver, n: int, batch: int, workdir: Path, limit_s: float
) -> dict[str, Any]:
    """N raises through ``MessagePipeline`` then the ``Dispatcher`` ticking until every level-0 job is delivered."""
    receiver.reset()
    data = workdir / "throughput"
    data.mkdir()
    db = Database(default_url(data))
    db.create()
    clock = WallClock()
    changes = AlarmChanges()
    notify = NotifyRuntime(
        db,
        compound,
        load_channel_configs(compound),
        data_dir=data,
        secret_key="bench-secret-key-0123456789abcdef",
        clock=clock,
        changes=changes,
        public_url="http://127.0.0.1:8080",
        hub_id="bench",
    )
    pipeline = MessagePipeline(db, compound, clock=clock, channels=notify.infos, changes=changes)
    devices = spread_devices(compound, n)
    items = []
    now = clock.now()
    for seq, device in enumerate(devices, 1):
        event = make_event(compound, device, seq=seq, at=now)
        items.append(Inbound(event_topic(compound, event), wire.dump(event), now))
    t0 = time.time()
    stop_at = time.monotonic() + limit_s
    fed = 0
    while fed < len(items) and time.monotonic() < stop_at:
        pipeline.process(items[fed : fed + batch])
        fed += len(items[fed : fed + batch])
    t_ingested = time.time()
    with db.session() as session:
        jobs = list(session.scalars(select(NotificationJob.id).where(NotificationJob.level == 0)))
        alarms = len(list(session.scalars(select(Alarm.id))))
    expected = len(jobs)
    deadline = time.monotonic() + limit_s
    t1 = time.time()  # ingest and delivery are measured apart: the dispatcher starts once every alarm is in
    ticks = 0
    while len(receiver.jobs) < expected and time.monotonic() < deadline:
        report = notify.dispatcher.tick()
        ticks += 1
        if not report.sent and not report.steps:
            time.sleep(0.01)
    with receiver.lock:
        delivered = len(receiver.jobs)
        t_last = max(receiver.jobs.values(), default=t1)
    with db.session() as session:
        states = {
            s: len(list(session.scalars(select(NotificationJob.id).where(NotificationJob.state == s))))
            for s in (JobState.DELIVERED, JobState.FAILED, JobState.PENDING)
        }
    notify.dispatcher.stop()
    db.dispose()
    ingest_s, dispatch_s, total_s = t_ingested - t0, t_last - t1, t_last - t0
    return {
        "events": fed,
        "batch": batch,
        "alarms": alarms,
        "level0_jobs": expected,
        "delivered": delivered,
        "job_states": {str(k): v for k, v in states.items()},
        "ticks": ticks,
        "ingest_s": round(ingest_s, 3),
        "dispatch_s": round(dispatch_s, 3),
        "alarms_routed_per_s": round(alarms / ingest_s, 1),
        "jobs_written_per_s": round(expected / ingest_s, 1),
        "jobs_delivered_per_s": round(delivered / dispatch_s, 1) if dispatch_s > 0 else None,
        "alarms_notified_per_s": round(len(receiver.alarms) / total_s, 1) if total_s > 0 else None,
    }


# --------------------------------------------------------------------------- 2. latency


def start_hub(server: MosquittoServer, config: Path, workdir: Path) -> tuple[subprocess.Popen[bytes], Path, str]:
    data = workdir / "hub"
    port = free_port()
    log = open(workdir / "hub.log", "wb")  # noqa: SIM115 - the child's log, closed with the process
    hub = subprocess.Popen(
        [
            *(sys.executable, "-m", "compound.cli", "hub", "--broker", server.url, "--broker-kind", "mosquitto"),
            *("--data-dir", str(data), "--port", str(port), "--config", str(config)),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    log.close()
    return hub, data, f"http://127.0.0.1:{port}"


def stop_hub(hub: subprocess.Popen[bytes]) -> None:
    hub.terminate()
    try:
        hub.wait(30)
    except subprocess.TimeoutExpired:
        hub.kill()
        hub.wait(10)


def latency(
    server: MosquittoServer,
    compound: Compound,
    receiver: Receiver,
    hub: subprocess.Popen[bytes],
    data: Path,
    url: str,
    rate: float,
    seconds: float,
    workdir: Path,
) -> dict[str, Any]:
    """Raises at ``rate`` to the running hub: publish → first webhook message, and publish → a plain subscriber."""
    deadline = time.monotonic() + 150
    while not http_ok(f"{url}/healthz"):
        if hub.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"compound hub did not come up; see {workdir / 'hub.log'}")
        time.sleep(0.2)
    n = int(rate * seconds)
    devices = spread_devices(compound, n + 1, skip=1)
    on_broker: dict[str, float] = {}

    def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        on_broker.setdefault(msg.topic.rsplit("/", 1)[1], time.time())

    tap = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="bench-notify-tap")
    tap.on_message = on_message
    tap.connect(server.host, server.port)
    tap.subscribe(f"{compound.prefix}/v1/{compound.id}/+/event/+", qos=1)
    tap.loop_start()
    pub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="bench-notify-pub")
    pub.connect(server.host, server.port)
    pub.loop_start()

    def publish(seq: int, device: str) -> float:
        event = make_event(compound, device, seq=seq, at=wire.utcnow())
        topic, payload = event_topic(compound, event), wire.dump(event)
        at = time.time()
        pub.publish(topic, payload, qos=1)
        return at

    # Warm-up: one alarm end to end proves the hub subscribed and its dispatcher delivers.
    receiver.reset()
    publish(1, devices[0])
    deadline = time.monotonic() + 60
    while not receiver.alarms and time.monotonic() < deadline:
        time.sleep(0.05)
    if not receiver.alarms:
        raise RuntimeError(f"the hub delivered nothing to the webhook; see {workdir / 'hub.log'}")
    warm = set(receiver.alarms)
    sent: dict[str, float] = {}
    for i in paced(n, rate):
        sent[devices[i + 1]] = publish(i + 2, devices[i + 1])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(receiver.alarms) - len(warm) < n:
        time.sleep(0.05)
    for client in (pub, tap):
        client.disconnect()
        client.loop_stop()
    stop_hub(hub)
    db = Database(default_url(data))
    with db.session() as session:
        device_of = {alarm_id: device for alarm_id, device in session.execute(select(Alarm.id, Alarm.device))}
    db.dispose()
    first = {device_of[a]: t for a, t in receiver.alarms.items() if a not in warm and a in device_of}
    return {
        "events": n,
        "rate_per_s": rate,
        "latencies": [first[d] - sent[d] for d in sent if d in first],
        "raw": [on_broker[d] - sent[d] for d in sent if d in on_broker],
        "lost": n - sum(d in first for d in sent),
    }


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--alarms", type=int, default=500, help="smoke raises for the throughput (default 500)")
    parser.add_argument("--batch", type=int, default=100, help="events per pipeline transaction batch (default 100)")
    parser.add_argument("--rate", type=float, default=5.0, help="raises per second for the latency (default 5)")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of raises for the latency (default 20)")
    parser.add_argument("--limit", type=float, default=60.0, help="seconds each throughput phase may take at most")
    parser.add_argument("--budget", type=float, default=170.0, help="seconds the whole bench may take (default 170)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    started = time.monotonic()
    receiver = Receiver().start()
    workdir = Path(tempfile.mkdtemp(prefix="bench-notify-"))
    try:
        config = workdir / "config"
        sizes = generate_config(config, receiver.url)
        server = MosquittoServer(workdir / "mosquitto")
        server.start()
        try:
            # The hub loads the config while this process loads it too (both take a while at this size).
            hub, data, url = start_hub(server, config, workdir)
            try:
                t = time.perf_counter()
                compound = load_config(config)
                load_s = time.perf_counter() - t
                load_channel_configs(compound)  # the hub's own check of channels.yaml against people and levels
                lat = latency(server, compound, receiver, hub, data, url, args.rate, args.seconds, workdir)
            finally:
                if hub.poll() is None:
                    stop_hub(hub)
        finally:
            server.stop()
        left = args.budget - (time.monotonic() - started)
        limit = max(10.0, min(args.limit, left / 2))
        thr = throughput(compound, receiver, args.alarms, args.batch, workdir, limit)
    finally:
        receiver.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    e2e, raw = percentiles(lat["latencies"]), percentiles(lat["raw"])
    load = round(os.getloadavg()[0], 1)
    result = {
        "config": {**sizes, "devices": len(compound.devices), "load_config_s": round(load_s, 2)},
        "throughput": thr,
        "latency": {
            "events": lat["events"],
            "rate_per_s": lat["rate_per_s"],
            "lost": lat["lost"],
            "raise_to_first_delivery": e2e,
            "raw_broker_hop": raw,
        },
        "bench_s": round(time.monotonic() - started, 1),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load": load},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{sizes['households']} households, {sizes['people']} people, {len(compound.devices)} devices "
        f"(load_config {load_s:.1f} s); load {load:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"{'throughput':<44}{'value':>12}")
    rows = (
        (f"alarms routed/s ({thr['alarms']} raises, ingest side)", thr["alarms_routed_per_s"]),
        (f"level-0 jobs written/s ({thr['level0_jobs']} jobs)", thr["jobs_written_per_s"]),
        (f"jobs delivered/s to the webhook ({thr['delivered']})", thr["jobs_delivered_per_s"]),
        ("alarms notified/s end to end", thr["alarms_notified_per_s"]),
    )
    for name, value in rows:
        print(f"{name:<44}{value:>12}")
    print(f"{'latency (' + str(lat['events']) + ' raises at ' + format(args.rate, 'g') + '/s)':<44}", end="")
    print(f"{'n':>6}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for name, row in (("raw broker hop (paho -> paho)", raw), ("raise -> first webhook delivery", e2e)):
        cells = "".join(f"{row.get(k, float('nan')):>10.2f}" for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms"))
        print(f"{name:<44}{row.get('n', 0):>6}{cells}")
    if lat["lost"]:
        print(f"{lat['lost']} alarm(s) never reached the webhook")
    print(f"bench took {result['bench_s']} s")


if __name__ == "__main__":
    main()
