"""District load: many compounds' edges on the wire at once, against a real Mosquitto, a plain subscriber and hubs.

The load generator (``DistrictEdges`` + ``publish_load``) speaks the wire contract (``compound/wire.py``) for
thousands of logical edges multiplexed over a few MQTT connections (one child process each): readings of every
sensor, heartbeats of every edge (with the edge's last seq), and smoke events (unique ids, per-edge ``seq`` from 0,
raised and cleared in turn per detector, ``raised_id`` on the clear). A district is the sample compound
(``configs/``) cloned under ``--compounds`` ids (``sunrise-garden``, ``sunrise-garden-00001`` ...): 5 edges and
1 798 sensors each, so ``--compounds 1000`` is 5 000 edges and 1.8 million sensors. The rate is ``--rate`` msg/s in
all, reached by a linear ramp over ``--ramp`` seconds, held for ``--seconds``; a connection holds at most
``20 × --window`` messages unacknowledged by the broker (back-pressure, as an edge's outbox).

Three mixes, each measured on a fresh Mosquitto per sink, in the same run:

- ``district``: the natural mix of the district (readings every ``reading_interval_s``, heartbeats every
  ``heartbeat_interval_s``, ``--alarm-share`` of the messages smoke events), over every compound;
- ``readings`` and ``events``: one compound's edges only (the partition one hub serves), readings alone and
  smoke raise/clear events alone (each raises or updates an alarm, routed, with escalation jobs).

Sinks: ``plain`` (a paho QoS 1 subscriber on the whole tree that only counts: the baseline), ``hub-sqlite`` and
``hub-pg`` (``hub.ingest.Ingestor`` for the first compound, on a fresh SQLite file / a fresh database on a
PostgreSQL cluster the bench starts). Rates are counted over the hold (after the ramp): messages received or
committed per second; ``vs plain`` is the ratio to the plain subscriber in the same run with the same offered
stream. A hub that cannot keep up leaves a backlog at the broker (``lag``, messages not committed at the end).

``--profile`` adds where the time goes for alarm events on PostgreSQL: ``MessagePipeline.process`` on batches of
200 events under cProfile, with the SQL statements each batch sends (round trips) counted by kind.

Run: ``.venv/bin/python bench/load.py [--compounds 1000] [--rate 4000] [--seconds 10] [--mix all] [--json]``.
"""

from __future__ import annotations

import abc
import argparse
import contextlib
import cProfile
import dataclasses
import functools
import io
import json
import multiprocessing
import os
import platform
import pstats
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from compound import wire  # noqa: E402
from compound.config import Compound, load_config  # noqa: E402
from compound.config.models import DeviceType  # noqa: E402

MIXES: Final = ("district", "readings", "events")
SINKS: Final = ("plain", "hub-sqlite", "hub-pg")

_QUANTITY: Final = {
    DeviceType.SMOKE_DETECTOR: ("smoke", "dB/m", 0.012),
    DeviceType.GAS_DETECTOR: ("gas", "%LEL", 0.0),
    DeviceType.DOOR_CONTACT: ("door", "open", 0.0),
}


# ---------------------------------------------------------------- the district on the wire


def clone(base: Compound, compound_id: str) -> Compound:
    """The base compound under another id: what the hub of that compound would load."""
    info = base.compound.compound.model_copy(update={"id": compound_id})
    return dataclasses.replace(base, compound=base.compound.model_copy(update={"compound": info}))


def compound_ids(base: Compound, count: int) -> list[str]:
    """The district's compound ids: the base's own first, then ``<base>-00001`` ..."""
    if count < 1:
        raise ValueError(f"a district needs at least one compound, got {count}")
    return [base.id, *(f"{base.id}-{i:05d}" for i in range(1, count))]


@dataclass(frozen=True, slots=True)
class Sensor:
    """One sensor of an edge as the generator sends it: reading fields, and the event location for smoke."""

    device: str
    quantity: str
    unit: str
    value: float
    battery: bool
    location: dict[str, Any] | None
    """Set for smoke detectors (they raise events)."""


@dataclass(frozen=True, slots=True)
class EdgeTemplate:
    """An edge of the base compound: its sensors (cameras send no readings)."""

    edge: str
    sensors: tuple[Sensor, ...]
    smoke: tuple[Sensor, ...]


def edge_templates(base: Compound) -> list[EdgeTemplate]:
    """The base compound's edges with their sensors, in config order."""
    out: list[EdgeTemplate] = []
    for edge in base.edges():
        sensors: list[Sensor] = []
        for dev in base.devices_of_edge(edge):
            if dev.type not in _QUANTITY:
                continue  # cameras: events and snapshots only, no readings
            quantity, unit, value = _QUANTITY[DeviceType(dev.type)]
            location = None
            if dev.type is DeviceType.SMOKE_DETECTOR:
                loc = wire.Location(
                    building=dev.building, unit=dev.unit, floor=dev.floor, flat=dev.flat, place=dev.place
                )
                location = loc.model_dump(exclude_none=True)
            sensors.append(Sensor(dev.id, quantity, unit, value, dev.battery, location))
        out.append(EdgeTemplate(edge, tuple(sensors), tuple(s for s in sensors if s.location is not None)))
    return out


@dataclass(frozen=True, slots=True)
class Composition:
    """Shares of readings, heartbeats and events in the stream (any positive scale; normalized on use)."""

    readings: float
    heartbeats: float
    events: float

    def __post_init__(self) -> None:
        if min(self.readings, self.heartbeats, self.events) < 0 or self.readings + self.heartbeats + self.events <= 0:
            raise ValueError(f"composition shares must be >= 0 and not all 0: {self}")

    @classmethod
    def natural(cls, base: Compound, alarm_share: float) -> Composition:
        """The district's own mix: every sensor each ``reading_interval_s``, every edge each ``heartbeat_interval_s``,
        and ``alarm_share`` of all messages smoke events."""
        if not 0 <= alarm_share < 1:
            raise ValueError(f"--alarm-share must be in [0, 1), got {alarm_share}")
        templates = edge_templates(base)
        readings = sum(len(t.sensors) for t in templates) / base.rules.reading_interval_s
        heartbeats = len(templates) / base.rules.heartbeat_interval_s
        events = (readings + heartbeats) * alarm_share / (1 - alarm_share)
        return cls(readings, heartbeats, events)


@dataclass(slots=True)
class EdgeState:
    """One logical edge: its compound, template, next seq and the open raise per smoke detector."""

    compound: str
    template: EdgeTemplate
    seq: int = 0
    """Next event seq (an edge's first event carries 0)."""
    cursor: int = 0
    smoke_cursor: int = 0
    raised: dict[str, str] = field(default_factory=dict)
    """Smoke device -> id of its raising event, while raised."""


@dataclass(slots=True)
class Sent:
    """What a generator sent, by kind and by compound (events also by state)."""

    readings: int = 0
    heartbeats: int = 0
    raised: int = 0
    cleared: int = 0
    acked: int = 0
    by_compound: Counter[str] = field(default_factory=Counter)

    @property
    def events(self) -> int:
        return self.raised + self.cleared

    @property
    def total(self) -> int:
        return self.readings + self.heartbeats + self.events

    def add(self, other: Sent) -> None:
        for name in ("readings", "heartbeats", "raised", "cleared", "acked"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.by_compound.update(other.by_compound)


class DistrictEdges:
    """Wire messages for many logical edges: readings round-robin over edges and their sensors, heartbeats
    round-robin over edges (carrying the last seq), smoke events raised and cleared in turn per detector."""

    def __init__(self, edges: Sequence[EdgeState], prefix: str = wire.DEFAULT_PREFIX) -> None:
        if not edges:
            raise ValueError("no edges to multiplex")
        self.edges = list(edges)
        self.prefix = prefix
        self.sent = Sent()
        self._started = time.monotonic()
        self._reading_i = self._heartbeat_i = self._event_i = 0
        self._smoke_edges = [e for e in self.edges if e.template.smoke]
        self._credit = [0.0, 0.0, 0.0]
        """Per kind (readings, heartbeats, events): share owed minus messages made, carried between calls."""

    @classmethod
    def of(cls, base: Compound, compounds: Sequence[str], share: int = 0, of: int = 1) -> DistrictEdges:
        """The logical edges of ``compounds`` (clones of ``base``), every ``of``-th starting at ``share``."""
        templates = edge_templates(base)
        pairs = [(c, t) for c in compounds for t in templates]
        return cls([EdgeState(c, t) for c, t in pairs[share::of]], base.prefix)

    def _topic(self, edge: EdgeState, kind: str, device: str | None = None) -> str:
        base = f"{self.prefix}/{wire.API_VERSION}/{edge.compound}/{edge.template.edge}/{kind}"
        return base if device is None else f"{base}/{device}"

    def reading(self, at: str) -> tuple[str, bytes]:
        edge = self.edges[self._reading_i % len(self.edges)]
        self._reading_i += 1
        sensor = edge.template.sensors[edge.cursor % len(edge.template.sensors)]
        edge.cursor += 1
        body: dict[str, Any] = {
            "schema": 1,
            "type": "reading",
            "compound": edge.compound,
            "edge": edge.template.edge,
            "device": sensor.device,
            "quantity": sensor.quantity,
            "value": sensor.value,
            "unit": sensor.unit,
            "at": at,
        }
        if sensor.battery:
            body["battery"] = 87.0
        self.sent.readings += 1
        self.sent.by_compound[edge.compound] += 1
        return self._topic(edge, "reading", sensor.device), _dump(body)

    def heartbeat(self, at: str) -> tuple[str, bytes]:
        edge = self.edges[self._heartbeat_i % len(self.edges)]
        self._heartbeat_i += 1
        total = len(edge.template.sensors)
        body = {
            "schema": 1,
            "type": "heartbeat",
            "compound": edge.compound,
            "edge": edge.template.edge,
            "at": at,
            "uptime_s": round(time.monotonic() - self._started, 3),
            "seq": max(edge.seq - 1, 0),
            "outbox_depth": 0,
            "devices_online": total,
            "devices_total": total,
        }
        self.sent.heartbeats += 1
        self.sent.by_compound[edge.compound] += 1
        return self._topic(edge, "heartbeat"), _dump(body)

    def event(self, at: str) -> tuple[str, bytes]:
        if not self._smoke_edges:
            raise ValueError("these edges have no smoke detector to raise events from")
        edge = self._smoke_edges[self._event_i % len(self._smoke_edges)]
        self._event_i += 1
        sensor = edge.template.smoke[edge.smoke_cursor % len(edge.template.smoke)]
        edge.smoke_cursor += 1
        event_id = uuid.uuid4().hex
        raised_id = edge.raised.pop(sensor.device, None)
        body: dict[str, Any] = {
            "schema": 1,
            "type": "event",
            "id": event_id,
            "seq": edge.seq,
            "compound": edge.compound,
            "edge": edge.template.edge,
            "device": sensor.device,
            "kind": "smoke",
            "state": "raised" if raised_id is None else "cleared",
            "severity": "critical",
            "value": 0.31 if raised_id is None else 0.02,
            "unit": "dB/m",
            "threshold": 0.15,
            "location": sensor.location,
            "occurred_at": at,
            "sent_at": at,
            "message": "load generator",
        }
        if raised_id is None:
            edge.raised[sensor.device] = event_id
            self.sent.raised += 1
        else:
            body["raised_id"] = raised_id
            self.sent.cleared += 1
        edge.seq += 1
        self.sent.by_compound[edge.compound] += 1
        return self._topic(edge, "event", sensor.device), _dump(body)

    def messages(self, n: int, composition: Composition, at: str | None = None) -> Iterator[tuple[str, bytes]]:
        """The next ``n`` messages in the composition's proportions (deterministic: credit per kind)."""
        total = composition.readings + composition.heartbeats + composition.events
        shares = (composition.readings / total, composition.heartbeats / total, composition.events / total)
        makers = (self.reading, self.heartbeat, self.event)
        stamp = at or datetime.now(UTC).isoformat()
        credit = self._credit
        for _ in range(n):
            for i, share in enumerate(shares):
                credit[i] += share
            best = max(range(3), key=credit.__getitem__)
            credit[best] -= 1.0
            yield makers[best](stamp)


def _dump(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """What one run of the generator sends: to which broker, how fast, for how long."""

    host: str
    port: int
    compounds: tuple[str, ...]
    composition: Composition
    rate: float
    """Messages per second over all connections, once ramped."""
    seconds: float
    """Held at ``rate`` this long, after the ramp."""
    ramp: float = 2.0
    connections: int = 2
    window: int = 100
    """QoS 1 in-flight window per connection; at most 20 windows unacknowledged before the generator waits."""
    config: str = str(ROOT / "configs")


def _connection(spec: LoadSpec, share: int, results: Any, ready: Any, go: Any) -> None:
    """Child process: one MQTT connection publishing its share of the district's edges at its share of the rate."""
    base = load_config(spec.config)
    district = DistrictEdges.of(base, spec.compounds, share, spec.connections)
    acked = [0]
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"load-{os.getpid()}-{share}", clean_session=True
    )
    client.max_inflight_messages_set(spec.window)

    def on_publish(_c: Any, _u: Any, _mid: int, _rc: Any, _p: Any) -> None:
        acked[0] += 1

    client.on_publish = on_publish
    client.connect(spec.host, spec.port)
    client.loop_start()
    rate = spec.rate / spec.connections
    cap = 20 * spec.window
    with ready.get_lock():
        ready.value += 1
    if not go.wait(120):
        raise RuntimeError("the bench never said go")
    t0 = time.monotonic()
    end = t0 + spec.ramp + spec.seconds
    sent = 0
    while (now := time.monotonic()) < end:
        elapsed = now - t0
        # Cumulative target under a linear ramp to `rate` over `ramp` seconds, then flat.
        due = rate * (elapsed**2 / (2 * spec.ramp) if elapsed < spec.ramp else spec.ramp / 2 + elapsed - spec.ramp)
        n = min(int(due) - sent, cap - (sent - acked[0]), 500)
        if n <= 0:
            time.sleep(0.002)
            continue
        for topic, payload in district.messages(n, spec.composition):
            client.publish(topic, payload, qos=1)
        sent += n
    deadline = time.monotonic() + 30
    while acked[0] < sent and time.monotonic() < deadline:
        time.sleep(0.01)
    client.disconnect()
    client.loop_stop()
    district.sent.acked = acked[0]
    results.put(district.sent)


def publish_load(spec: LoadSpec, timeout: float = 120.0) -> tuple[list[Any], Any]:
    """Start the generator's connections (spawned processes), wait until each is connected, then start them together;
    returns (processes, results queue)."""
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    ready = ctx.Value("i", 0)
    go = ctx.Event()
    procs = [ctx.Process(target=_connection, args=(spec, i, results, ready, go)) for i in range(spec.connections)]
    for proc in procs:
        proc.start()
    deadline = time.monotonic() + timeout
    while ready.value < spec.connections:
        if time.monotonic() > deadline or not all(p.is_alive() for p in procs):
            for proc in procs:
                proc.kill()
                proc.join(10)
            raise RuntimeError(f"{ready.value} of {spec.connections} generator connections ready")
        time.sleep(0.02)
    go.set()
    return procs, results


def collect(procs: list[Any], results: Any, timeout: float = 120.0) -> Sent:
    """Wait for the generator's connections and add up what they sent."""
    total = Sent()
    for _ in procs:
        total.add(results.get(timeout=timeout))
    for proc in procs:
        proc.join(30)
    results.close()
    results.join_thread()
    return total


# ---------------------------------------------------------------- sinks


class PlainSubscriber:
    """The baseline: a paho QoS 1 subscriber on the whole tree that only counts what edges send."""

    def __init__(self, host: str, port: int, prefix: str) -> None:
        self.count = 0
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="load-plain")
        self.client.on_message = self._on_message
        self._subscribed = threading.Event()
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
        self.client.connect(host, port)
        self.client.subscribe(wire.subscription(prefix), qos=1)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("plain subscriber: no SUBACK within 10 s")

    def _on_message(self, _c: Any, _u: Any, message: Any) -> None:
        if "/cmd/" not in message.topic:  # edge -> hub traffic only, not a hub's resend requests
            self.count += 1

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@contextlib.contextmanager
def postgres_cluster() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free port (``tests.servers.PostgresServer``), fsync on (unlike the tests'
    clusters): a hub's commit costs what it would in production. Yields its URL."""
    from tests.servers import postgres_server

    with postgres_server(fsync=True) as url:
        yield url


def fresh_database(server_url: str, name: str) -> str:
    """CREATE DATABASE ``name`` on the cluster; its URL."""
    from sqlalchemy import create_engine, text

    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


@dataclass
class Measured:
    """One sink under one offered stream."""

    mix: str
    sink: str
    offered_msg_s: float
    """What the broker acknowledged to the generator, per second of the run (ramp counted at half)."""
    received_msg_s: float
    """Received (plain) or committed (hub) per second, from the end of the ramp until caught up or out of time."""
    share: float
    """The sink's share of the stream (a hub serves one compound; the plain subscriber takes everything)."""
    caught_up: bool
    """Everything its share of the stream held was received or committed before ``--drain`` ran out."""
    backlog: int
    """Messages of its share still not received or committed when the measurement stopped."""
    dead_letters: int | None
    sent: Sent


class Sink(abc.ABC):
    """Something consuming the stream: counts what it has received or committed."""

    share_of: str | None = None
    """The compound it serves (None: every compound)."""

    @abc.abstractmethod
    def count(self) -> int:
        """Messages received (a plain subscriber) or committed (a hub) so far."""

    def close(self) -> int | None:
        """Stop; the dead letters it kept (None: not a hub)."""
        return None


class PlainSink(Sink):
    def __init__(self, host: str, port: int, prefix: str) -> None:
        self.plain = PlainSubscriber(host, port, prefix)

    def count(self) -> int:
        return self.plain.count

    def close(self) -> None:
        self.plain.close()


class HubSink(Sink):
    """``hub.ingest.Ingestor`` for the base compound on a fresh database (SQLite file or PostgreSQL)."""

    def __init__(self, base: Compound, host: str, port: int, url: str | None) -> None:
        from hub.db import Database, default_url
        from hub.ingest import Ingestor, IngestSettings
        from tests.hub.helpers import HubThread

        self.share_of = base.id
        self.workdir = tempfile.mkdtemp(prefix="load-hub-")
        self.db = Database(url or default_url(self.workdir))
        self.db.create()
        settings = IngestSettings(replica=f"load-{time.time_ns()}")  # a fresh session: nothing queued from before
        self.ingestor = Ingestor(self.db, base, host=host, port=port, broker_kind="mosquitto", settings=settings)
        self.hub = HubThread(self.ingestor).start()

    def count(self) -> int:
        return self.ingestor.pipeline.processed

    def close(self) -> int:
        from sqlalchemy import func, select

        from hub.db import DeadLetter

        self.hub.stop()
        with self.db.session() as session:
            dead = int(session.scalar(select(func.count()).select_from(DeadLetter)) or 0)
        self.db.dispose()
        shutil.rmtree(self.workdir, ignore_errors=True)
        return dead


def measure(mix: str, sink_name: str, spec_of: Any, pg_url: str | None, drain: float) -> Measured:
    """Run the generator against a fresh Mosquitto with one sink attached.

    The rate is counted from the end of the ramp until the sink has taken its whole share of what the broker
    acknowledged, or ``drain`` seconds after the generator stopped: a sink that keeps up is measured over the hold
    (its rate is the offered rate), one that cannot is measured saturated (its rate is its capacity)."""
    from tests.servers import MosquittoServer

    server = MosquittoServer(Path(tempfile.mkdtemp(prefix="load-mosq-")))
    server.start()
    sink: Sink | None = None
    try:
        spec: LoadSpec = spec_of(server.host, server.port)
        base = load_config(spec.config)
        if sink_name == "plain":
            sink = PlainSink(server.host, server.port, base.prefix)
        else:
            url = fresh_database(pg_url, f"load_{uuid.uuid4().hex[:12]}") if sink_name == "hub-pg" and pg_url else None
            sink = HubSink(base, server.host, server.port, url)
        procs, results = publish_load(spec)
        time.sleep(spec.ramp)
        c0, t0 = sink.count(), time.monotonic()
        sent = collect(procs, results, timeout=spec.seconds + 120)
        share = sent.by_compound[sink.share_of] / max(sent.total, 1) if sink.share_of else 1.0
        expected = round(sent.acked * share)  # a connection's acks are not split by compound: its share of them
        deadline = time.monotonic() + drain
        while sink.count() < expected and time.monotonic() < deadline:
            time.sleep(0.02)
        c1, t1 = sink.count(), time.monotonic()
        dead = sink.close()
        sink = None
    finally:
        if sink is not None:
            sink.close()
        server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)
    offered = sent.acked / (spec.ramp / 2 + spec.seconds)
    return Measured(
        mix,
        sink_name,
        round(offered),
        round((c1 - c0) / (t1 - t0), 1),
        share,
        c1 >= expected,
        max(expected - c1, 0),
        dead,
        sent,
    )


# ---------------------------------------------------------------- where the time goes: alarm events on PostgreSQL


def profile_events(pg_url: str, batches: int = 10, batch: int = 200) -> dict[str, Any]:
    """``MessagePipeline.process`` on batches of smoke events on PostgreSQL: time per batch, statements per batch by
    kind (each a round trip), and the top functions by own time under cProfile."""
    from sqlalchemy import event

    from hub.db import Database
    from hub.ingest import Inbound, MessagePipeline

    base = load_config(ROOT / "configs")
    db = Database(fresh_database(pg_url, f"profile_{uuid.uuid4().hex[:12]}"))
    db.create()
    statements: Counter[str] = Counter()

    def count(_conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, executemany: bool) -> None:
        words = statement.split()
        key = " ".join(words[:3]) if words[0] in ("INSERT", "UPDATE", "DELETE") else words[0]
        if words[0] == "SELECT":
            key = f"SELECT {words[words.index('FROM') + 1]}" if "FROM" in words else "SELECT"
        statements[key + (" (many)" if executemany else "")] += 1

    event.listen(db.engine, "before_cursor_execute", count)
    commits = [0]
    event.listen(db.engine, "commit", lambda _c: commits.__setitem__(0, commits[0] + 1))
    pipeline = MessagePipeline(db, base)
    district = DistrictEdges.of(base, [base.id])
    events_only = Composition(0, 0, 1)
    warm = [Inbound(t, p, datetime.now(UTC)) for t, p in district.messages(batch, events_only)]
    pipeline.process(warm)  # first batch: statement caches, routing tables
    statements.clear()
    commits[0] = 0
    work = [
        [Inbound(t, p, datetime.now(UTC)) for t, p in district.messages(batch, events_only)] for _ in range(batches)
    ]
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.enable()
    for items in work:
        pipeline.process(items)
    profiler.disable()
    elapsed = time.perf_counter() - t0
    db.dispose()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(18)
    n = batches * batch
    return {
        "events": n,
        "events_s": round(n / elapsed),
        "ms_per_event": round(1000 * elapsed / n, 3),
        "statements_per_batch": {k: round(v / batches, 1) for k, v in statements.most_common()},
        "statements_per_event": round(sum(statements.values()) / n, 2),
        "commits_per_batch": commits[0] / batches,
        "top_tottime": out.getvalue(),
    }


# ---------------------------------------------------------------- main


def _spec(host: str, port: int, *, compounds: tuple[str, ...], composition: Composition, args: Any) -> LoadSpec:
    return LoadSpec(
        host, port, compounds, composition, args.rate, args.seconds, args.ramp, args.connections, args.window
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--compounds", type=int, default=1000, help="compounds in the district mix (5 edges each)")
    parser.add_argument("--rate", type=float, default=4000, help="offered msg/s once ramped (all connections)")
    parser.add_argument("--seconds", type=float, default=10, help="hold at --rate this long (after the ramp)")
    parser.add_argument("--ramp", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=2, help="MQTT connections (one process each)")
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--drain", type=float, default=20, help="seconds a sink may take to catch up after the run")
    parser.add_argument("--alarm-share", type=float, default=0.01, help="share of smoke events in the district mix")
    parser.add_argument("--mix", choices=[*MIXES, "all"], default="all")
    parser.add_argument("--sink", choices=[*SINKS, "all"], default="all")
    parser.add_argument("--profile", action="store_true", help="also profile alarm events on PostgreSQL")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    for name in ("compounds", "connections", "window"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.rate <= 0 or args.seconds <= 0 or args.ramp <= 0:
        parser.error("--rate, --seconds and --ramp must be positive")
    base = load_config(ROOT / "configs")
    everyone = tuple(compound_ids(base, args.compounds))
    compositions = {
        "district": (everyone, Composition.natural(base, args.alarm_share)),
        "readings": ((base.id,), Composition(1, 0, 0)),
        "events": ((base.id,), Composition(0, 0, 1)),
    }
    mixes = MIXES if args.mix == "all" else (args.mix,)
    sinks = SINKS if args.sink == "all" else (args.sink,)
    rows: list[Measured] = []
    profile: dict[str, Any] | None = None
    with contextlib.ExitStack() as stack:
        pg_url = stack.enter_context(postgres_cluster()) if "hub-pg" in sinks or args.profile else None
        for mix in mixes:
            compounds, composition = compositions[mix]
            spec_of = functools.partial(_spec, compounds=compounds, composition=composition, args=args)
            for sink in sinks:
                rows.append(measure(mix, sink, spec_of, pg_url, args.drain))
                print(f"# {rows[-1].mix} {rows[-1].sink}: {rows[-1].received_msg_s} msg/s", file=sys.stderr, flush=True)
        if args.profile:
            assert pg_url is not None
            profile = profile_events(pg_url)
    plain = {r.mix: r.received_msg_s for r in rows if r.sink == "plain"}
    results = [
        {
            "mix": r.mix,
            "sink": r.sink,
            "edges": len(compositions[r.mix][0]) * len(base.edges()),
            "offered_msg_s": r.offered_msg_s,
            "received_msg_s": r.received_msg_s,
            "share": round(r.share, 5),
            # The plain subscriber's rate on the same share of the same stream, in the same run.
            "vs_plain": round(r.received_msg_s / (plain[r.mix] * r.share), 2) if plain.get(r.mix) and r.share else None,
            "caught_up": r.caught_up,
            "backlog": r.backlog,
            "dead_letters": r.dead_letters,
            "sent": {"readings": r.sent.readings, "heartbeats": r.sent.heartbeats, "events": r.sent.events},
        }
        for r in rows
    ]
    meta = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "broker": "mosquitto",
        "compounds": args.compounds,
        "rate": args.rate,
        "seconds": args.seconds,
        "connections": args.connections,
    }
    if args.json:
        print(json.dumps({"meta": meta, "results": results, "profile": profile}))
        return
    print(f"load average {meta['load_average']} on {meta['cpus']} CPUs: compare ratios, not absolute rates")
    print(
        f"{'mix':9} {'sink':11} {'edges':>6} {'offered/s':>10} {'share':>8} {'received/s':>11} {'vs plain':>9} "
        f"{'backlog':>8} {'dead':>5}"
    )
    for r in results:
        vs = r["vs_plain"] if r["vs_plain"] is not None else "-"
        dead = r["dead_letters"] if r["dead_letters"] is not None else "-"
        print(
            f"{r['mix']:9} {r['sink']:11} {r['edges']:>6} {r['offered_msg_s']:>10} {r['share']:>8} "
            f"{r['received_msg_s']:>11} {vs:>9} {r['backlog']:>8} {dead:>5}"
        )
    if profile is not None:
        print(
            f"\nalarm events on PostgreSQL, MessagePipeline.process alone: {profile['events_s']} events/s, "
            f"{profile['ms_per_event']} ms/event, {profile['statements_per_event']} statements/event, "
            f"{profile['commits_per_batch']} commits/batch of 200"
        )
        for key, n in profile["statements_per_batch"].items():
            print(f"  {n:>7} x {key}")
        print(profile["top_tottime"])


if __name__ == "__main__":
    main()
