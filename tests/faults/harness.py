"""The fault suite's one harness: a small compound as real processes, a fault mid-stream, then one table row.

``tests/faults/test_faults.py`` runs each row as a test (0 lost, 0 duplicate alarms; no timing asserts) and
``bench/faults.py`` prints the table with a no-fault baseline measured in the same run; both call ``run_row``.

A run: a real broker (Debian's Mosquitto, or the embedded amqtt in its own process), ``compound hub`` as a
process (SQLite, or a throwaway PostgreSQL cluster; with VictoriaMetrics as its InfluxDB v2 server when the
row needs one), and one or two ``compound edge`` processes whose sensor driver is ``tests.faults.pulse``:
``DEVICES`` smoke detectors per edge, one puff each every ``EVERY`` seconds, so each edge raises a known,
countable stream of events (a ``smoke`` raise and its clear per detector) at a steady rate. The config is
the sample compound's with the smoke rule's confirm and clear times cut to 1 s (a puff is an incident in
about two seconds). The fault is injected a quarter of the way into the stream: once the edges have journaled a
quarter of the events they will raise.

The row, read from the stores themselves once the stream is over and the edges stopped:

- **raised**: events in the edges' own sent-journals (``outbox.db``, ``journal`` table: every event an edge
  stored gets its seq and a journal copy in one transaction), plus any event an edge's log reports dropped
  from its in-memory backlog (never journaled: counted as raised *and* lost, never silently missing);
- **stored**: distinct event ids the hub holds (``events`` table, unique id) among those raised;
- **lost**: raised and not stored;
- **duplicate alarms**: alarms beyond one per device and kind (each detector has exactly one incident);
- **worst delay**: the largest time from an incident's raise (the raise event's timestamp, the alarm's
  ``raised_at``) to the alarm's ``raise`` history entry (the hub's clock in the transaction that stores the
  event and writes the alarm), both read from the hub's database. For an edge whose clock is skewed on purpose
  the known offset is taken off its timestamps first (the delay note says so).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from compound import wire
from compound.wire import MessageType
from hub.db import Alarm, AlarmHistory, Database, EventRecord, default_url
from tests.faults.proxy import LinkProxy
from tests.faults.pulse import NAME as PULSE
from tests.faults.pulse import read_start_time
from tests.servers import AmqttServer, BrokerServer, MosquittoServer, PostgresServer
from tests.support import wait_for

__all__ = ["ROWS", "Result", "Row", "Run", "run_row"]

ROOT = Path(__file__).resolve().parents[2]
DEVICES = 24
"""Smoke detectors puffed per edge: 2 × DEVICES events per edge."""
EVERY = 0.2
"""Seconds between two detectors' puffs: 10 events/s per edge (a fire floor's worth, sustained)."""
HOLD, TAIL = 2.0, 2.0
"""A puff's smoke lasts HOLD s (the 1 s confirmation passes even if a tick stalls), then clean air for TAIL s (the
1 s clear passes)."""
START_TIMEOUT = 60.0
"""How long an edge may take to start (its driver writes the schedule's t0: the stream starts once it runs)."""
SETTLE_TIMEOUT = 90.0
"""How long the hub may take, once the stream is over, to hold every raised event (resend sweeps included)."""


# ---------------------------------------------------------------- servers the rows stop and start


def victoria_metrics(workdir: Path) -> Any:
    """VictoriaMetrics (``tests/hub/timeseries/vm.py``), imported only by the row that needs it."""
    from tests.hub.timeseries.vm import VictoriaMetricsServer

    return VictoriaMetricsServer(workdir)


# ---------------------------------------------------------------- rows


@dataclass(frozen=True)
class EdgeSpec:
    """One edge of a run; ``skew_s`` offsets its clock (``--sim-start`` = now + skew, speed 1)."""

    edge: str
    skew_s: float = 0.0
    via_proxy: bool = False
    """Connect through a ``LinkProxy`` the row controls (link cut and slowed)."""
    small_disk_mb: int | None = None
    """Its data dir on a tmpfs of this size (the disk-full row)."""


@dataclass(frozen=True)
class Row:
    """One fault: how the compound is set up and what happens a third of the way into the stream."""

    key: str
    title: str
    fault: Callable[[Run], str]
    """Injects the fault a quarter of the way into the stream (blocking while it lasts); returns a note."""
    broker: str = "mosquitto"
    database: str = "sqlite"
    influx: bool = False
    hub_via_proxy: bool = False
    edges: tuple[EdgeSpec, ...] = (EdgeSpec("b2"),)
    hub_args: tuple[str, ...] = ()
    devices: int = DEVICES
    """Detectors puffed per edge (a longer stream where a restart must see puffs after it)."""


@dataclass
class Result:
    """One row of the table."""

    key: str
    title: str
    raised: int
    stored: int
    lost: int
    duplicate_alarms: int
    alarms: int
    incidents: int
    """Devices with a raise among the raised events: one alarm each is expected."""
    worst_delay_s: float | None
    delay_note: str
    note: str
    seconds: float
    dead_letters: int = 0
    readings: dict[str, int] | None = None
    """The time-series row: readings the hub received (its embedded store) and points in VictoriaMetrics."""
    settled_live: bool = False
    """Every raised event was stored while the edges still ran (not only once they were stopped and drained)."""
    phases: dict[str, float] = field(default_factory=dict)
    """Seconds from the row's start at which each phase ended (set-up, fault, stream, settle, stop)."""
    missing: list[str] = field(default_factory=list)
    """Lost event ids (for the test's message)."""

    def as_dict(self) -> dict[str, Any]:
        out = dict(vars(self))
        out["missing"] = self.missing[:20]
        return out


# ---------------------------------------------------------------- processes


class Run:
    """The processes of one row; a context manager that stops and removes everything it started."""

    def __init__(self, row: Row, workdir: Path) -> None:
        self.row = row
        self.workdir = workdir
        self.config = workdir / "configs"
        self.hub_dir = workdir / "hub"
        self.hub_log = workdir / "hub.log"
        self.broker: BrokerServer | None = None
        self.pg: PostgresServer | None = None
        self.vm: Any = None
        self.hub: subprocess.Popen[bytes] | None = None
        self.hub_proxy: LinkProxy | None = None
        self.edge_proxy: dict[str, LinkProxy] = {}
        self.edges: dict[str, subprocess.Popen[bytes]] = {}
        self.mounts: list[Path] = []
        self.t0: dict[str, float] = {}
        self._hub_log_at = 0
        self.real_start = 0.0
        self._stack = contextlib.ExitStack()

    # ---- set-up
    def __enter__(self) -> Run:
        self._stack.__enter__()
        try:
            self._setup()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _setup(self) -> None:
        write_config(ROOT / "configs", self.config)
        broker: BrokerServer = (
            AmqttServer(self.workdir / "amqtt") if self.row.broker == "amqtt" else MosquittoServer(self.workdir / "mq")
        )
        broker.start()
        self.broker = broker
        self._stack.callback(broker.stop)
        if self.row.database == "postgresql":
            self.pg = PostgresServer()
            self._stack.callback(self.pg.remove)
            self.pg.start()
        if self.row.influx:
            self.vm = victoria_metrics(self.workdir / "vm")
            self.vm.start()
            self._stack.callback(self.vm.stop)
        if self.row.hub_via_proxy:
            self.hub_proxy = LinkProxy(broker.port).start()
            self._stack.callback(self.hub_proxy.stop)
        for spec in self.row.edges:
            if spec.via_proxy:
                self.edge_proxy[spec.edge] = proxy = LinkProxy(broker.port).start()
                self._stack.callback(proxy.stop)
            if spec.small_disk_mb is not None:
                self._mount(self.edge_dir(spec.edge), spec.small_disk_mb)
        self._stack.callback(self._stop_processes)
        self.real_start = time.time()
        self.launch_hub()  # hub and edges start side by side; the detectors wait for the go file
        for spec in self.row.edges:
            self.start_edge(spec.edge)
        self.wait_hub()
        for spec in self.row.edges:
            wait_for(functools.partial(self.connected, spec.edge), START_TIMEOUT, f"edge {spec.edge} connected")
            assert self.edges[spec.edge].poll() is None, self.log(spec.edge)[-3000:]
        self.go.write_text("go")
        for spec in self.row.edges:
            t0 = wait_for(
                functools.partial(read_start_time, self.schedule(spec.edge)), 10, f"edge {spec.edge}'s first puff"
            )
            assert t0 is not None
            self.t0[spec.edge] = t0

    def _mount(self, where: Path, size_mb: int) -> None:
        where.mkdir(parents=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "faults-disk", str(where)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise MountRefused(f"cannot mount a {size_mb} MiB tmpfs on {where}: {done.stderr.strip()}")
        self.mounts.append(where)
        self._stack.callback(subprocess.run, ["umount", "-l", str(where)], check=False, capture_output=True)

    def _stop_processes(self) -> None:
        for proc in [*self.edges.values(), *([self.hub] if self.hub else [])]:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)

    # ---- the hub
    @property
    def db_url(self) -> str:
        return self.pg.url if self.pg is not None else default_url(self.hub_dir)

    def start_hub(self) -> None:
        """Start the hub and return once it has subscribed."""
        self.launch_hub()
        self.wait_hub()

    def launch_hub(self) -> None:
        assert self.broker is not None
        url = self.hub_proxy.url if self.hub_proxy is not None else self.broker.url
        extra = list(self.row.hub_args)
        if self.pg is not None:
            extra += ["--db", self.pg.url]
        if self.vm is not None:
            extra += ["--influx-url", self.vm.url]
        log = open(self.hub_log, "ab")  # noqa: SIM115 - handed to the child
        self._hub_log_at = self.hub_log.stat().st_size
        self.hub = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "compound.cli",
                "-v",
                "hub",
                "--broker",
                url,
                "--broker-kind",
                self.broker.kind,
                "--config",
                str(self.config),
                "--data-dir",
                str(self.hub_dir),
                "--port",
                "0",
                *extra,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        log.close()

    def wait_hub(self) -> None:
        hub, start = self.hub, self._hub_log_at
        assert hub is not None
        wait_for(
            lambda: (
                "hub ingest subscribed" in self.hub_log.read_text(errors="replace")[start:] or hub.poll() is not None
            ),
            timeout=60,
            what="the hub's subscription",
        )
        assert hub.poll() is None, self.hub_log.read_text(errors="replace")[-3000:]

    def kill_hub(self) -> None:
        assert self.hub is not None
        self.hub.send_signal(signal.SIGKILL)
        self.hub.wait(timeout=30)

    # ---- the edges
    def edge_dir(self, edge: str) -> Path:
        return self.workdir / f"edge-data-{edge}"

    @property
    def go(self) -> Path:
        """Written once the hub and every edge run: the detectors' schedule starts."""
        return self.workdir / "go"

    def schedule(self, edge: str) -> Path:
        """The pulse driver's t0 (written by its first start, read by a restart)."""
        return self.workdir / f"schedule-{edge}"

    def edge_log(self, edge: str) -> Path:
        return self.workdir / f"edge-{edge}.log"

    def outbox(self, edge: str) -> Path:
        return self.edge_dir(edge) / f"edge-{edge}" / "outbox.db"

    def spec(self, edge: str) -> EdgeSpec:
        return next(s for s in self.row.edges if s.edge == edge)

    def start_edge(self, edge: str) -> None:
        assert self.broker is not None
        spec = self.spec(edge)
        url = self.edge_proxy[edge].url if edge in self.edge_proxy else self.broker.url
        sim_start = datetime.fromtimestamp(self.real_start + spec.skew_s, UTC).isoformat()
        pulse = [
            f"devices={self.row.devices}",
            f"schedule={self.schedule(edge)}",
            f"go={self.go}",
            f"every={EVERY}",
            f"hold={HOLD}",
            f"tail={TAIL}",
        ]
        with open(self.edge_log(edge), "ab") as log:
            self.edges[edge] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "compound.cli",
                    "-v",
                    "--plugin",
                    "tests.faults.pulse",
                    "edge",
                    "--edge",
                    edge,
                    "--driver",
                    PULSE,
                    *(a for o in pulse for a in ("--driver-option", o)),
                    "--sim-start",
                    sim_start,
                    "--real-start",
                    str(self.real_start),
                    "--tick",
                    "0.2",
                    "--reading-interval",
                    "1",
                    "--broker",
                    url,
                    "--config",
                    str(self.config),
                    "--data-dir",
                    str(self.edge_dir(edge)),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def kill_edge(self, edge: str) -> None:
        self.edges[edge].send_signal(signal.SIGKILL)
        self.edges[edge].wait(timeout=30)

    def stop_edges(self) -> None:
        """SIGTERM: each edge drains its outbox (10 s at most) and stops."""
        for proc in self.edges.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for edge, proc in self.edges.items():
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
                raise AssertionError(f"edge {edge} did not stop; log:\n{self.log(edge)[-3000:]}") from None

    def connected(self, edge: str) -> bool:
        """Whether the edge has connected to the broker (or died: the caller checks)."""
        return "connected to" in self.log(edge) or self.edges[edge].poll() is not None

    def log(self, edge: str) -> str:
        path = self.edge_log(edge)
        return path.read_text(errors="replace") if path.exists() else ""

    # ---- timeline
    @property
    def stream_end(self) -> float:
        """Unix time the last puff's clear is due (plus a tick)."""
        return max(self.t0.values()) + (self.row.devices - 1) * EVERY + HOLD + TAIL + 0.5

    def wait_until(self, moment: float) -> None:
        time.sleep(max(0.0, moment - time.time()))

    # ---- reading the stores
    def journal(self) -> dict[str, wire.Event]:
        """Event id -> event, of every event in every edge's sent-journal."""
        out: dict[str, wire.Event] = {}
        for spec in self.row.edges:
            path = self.outbox(spec.edge)
            if not path.exists():
                continue
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
            try:
                rows = conn.execute("SELECT payload FROM journal").fetchall()
            except sqlite3.OperationalError:  # the edge is creating its outbox right now
                rows = []
            finally:
                conn.close()
            for (raw,) in rows:
                event = wire.parse(MessageType.EVENT, bytes(raw))
                out[event.id] = event
        return out

    def stored_ids(self) -> set[str]:
        db = Database(self.db_url)
        try:
            with db.session() as session:
                return set(session.scalars(select(EventRecord.event_id)))
        except SQLAlchemyError:
            return set()
        finally:
            db.dispose()

    def settle(self, timeout: float = SETTLE_TIMEOUT) -> bool:
        """Wait (bounded) until the hub holds every event in the journals; False after ``timeout`` (the rest lost)."""
        try:
            wait_for(
                lambda: set(self.journal()) <= self.stored_ids(), timeout, "every raised event stored", interval=0.5
            )
        except AssertionError:
            return False
        return True

    def dropped_from_backlog(self) -> int:
        """Events an edge's log says it dropped from its in-memory backlog (never journaled)."""
        return sum(self.log(s.edge).count("event backlog full") for s in self.row.edges)

    def readings(self) -> dict[str, int]:
        """Smoke readings the hub received (its embedded store) and the distinct points VictoriaMetrics holds."""
        path = self.hub_dir / "timeseries.sqlite3"
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            hub = int(conn.execute("SELECT COUNT(*) FROM samples WHERE quantity = 'smoke'").fetchone()[0])
        finally:
            conn.close()
        points = {(labels, ts) for _, labels, ts, _ in self.vm.samples('reading_value{quantity="smoke"}')}
        return {"received": hub, "written": len(points)}


class MountRefused(RuntimeError):
    """The small disk of the disk-full row could not be mounted (not root, or no tmpfs)."""


def write_config(source: Path, target: Path) -> None:
    """The sample config with the smoke rule's confirm and clear times at 1 s (a puff is an incident)."""
    shutil.copytree(source, target)
    path = target / "compound.yaml"
    text = path.read_text()
    rule = "smoke: {threshold: 0.15, clear_below: 0.08, confirm_s: 10, clear_s: 30}"
    assert rule in text, f"the smoke rule in {path} changed: update tests/faults/harness.py"
    path.write_text(text.replace(rule, "smoke: {threshold: 0.15, clear_below: 0.08, confirm_s: 1, clear_s: 1}"))


# ---------------------------------------------------------------- measuring


def measure(run: Run, note: str, started: float) -> Result:
    """The row, from the journals, the edges' logs and the hub's database."""
    journal = run.journal()
    dropped = run.dropped_from_backlog()
    skews = {s.edge: timedelta(seconds=s.skew_s) for s in run.row.edges}
    db = Database(run.db_url)
    try:
        with db.session() as session:
            stored = {
                r.event_id: r
                for r in session.scalars(select(EventRecord).where(EventRecord.event_id.in_(list(journal))))
            }
            alarms = session.execute(
                select(Alarm.device, Alarm.kind, Alarm.edge, Alarm.raised_at, AlarmHistory.at)
                .join(AlarmHistory, AlarmHistory.alarm_id == Alarm.id)
                .where(Alarm.kind == "smoke", AlarmHistory.action == "raise")
            ).all()
            session.expunge_all()
        dead = _dead_letters(db)
    finally:
        db.dispose()
    # From the edge's own stamp (its journal), skew taken off: the hub restamps a message from a clock out of its
    # bounds at receipt, so the stored time is not the raise time for such an edge.
    raised_at: dict[tuple[str, str], datetime] = {}
    for event in journal.values():
        if event.state is wire.EventState.RAISED:
            key = (event.device, event.kind.value)
            raised_at[key] = min(raised_at.get(key, event.occurred_at), event.occurred_at)
    delays = [
        (_utc(written) - (_utc(raised_at.get((device, kind), raised)) - skews.get(edge, timedelta()))).total_seconds()
        for device, kind, edge, raised, written in alarms
    ]
    per_incident = Counter((device, kind) for device, kind, *_ in alarms)
    skewed = any(s.skew_s for s in run.row.edges)
    missing = sorted(set(journal) - set(stored))
    return Result(
        key=run.row.key,
        title=run.row.title,
        raised=len(journal) + dropped,
        stored=len(stored),
        lost=len(missing) + dropped,
        duplicate_alarms=sum(n - 1 for n in per_incident.values()),
        alarms=len(alarms),
        incidents=len({(e.device, e.kind) for e in journal.values() if e.state is wire.EventState.RAISED}),
        worst_delay_s=round(max(delays), 2) if delays else None,
        delay_note="alarm written at the hub − event time" + (" (edge skew taken off)" if skewed else ""),
        note=note,
        seconds=round(time.monotonic() - started, 1),
        dead_letters=dead,
        missing=missing,
    )


def _dead_letters(db: Database) -> int:
    from sqlalchemy import func

    from hub.db import DeadLetter

    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(DeadLetter)) or 0)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def run_row(row: Row, workdir: Path) -> Result:
    """Run one row from start to finish in ``workdir`` (created; left for a failing test's inspection)."""
    started = time.monotonic()
    phases: dict[str, float] = {}

    def phase(name: str) -> None:
        phases[name] = round(time.monotonic() - started, 1)

    workdir.mkdir(parents=True, exist_ok=True)
    with Run(row, workdir) as run:
        phase("running")
        quarter = 2 * row.devices * len(row.edges) // 4
        wait_for(
            lambda: len(run.journal()) >= quarter, START_TIMEOUT, "a quarter of the stream journaled", interval=0.1
        )
        phase("fault")
        note = row.fault(run)
        phase("fault over")
        run.wait_until(run.stream_end)
        phase("stream over")
        live = run.settle()
        phase("settled")
        run.stop_edges()
        phase("edges stopped")
        run.settle(30.0)
        result = measure(run, note, started)
        result.settled_live = live
        if row.influx:
            wait_for(
                lambda: (r := run.readings())["written"] >= r["received"], timeout=60, what="the spool written",
            )  # fmt: skip
            result.readings = run.readings()
        phase("measured")
    # Measured: the processes are killed on the way out (the hub's own shutdown is not what a row tests).
    phase("stopped")
    result.phases = phases
    result.seconds = phases["stopped"]
    return result


# ---------------------------------------------------------------- the faults


def no_fault(run: Run) -> str:
    return "no fault"


def restart_broker(run: Run, down_s: float = 3.0) -> str:
    assert run.broker is not None
    run.broker.stop()
    time.sleep(down_s)
    run.broker.start()
    return f"{run.broker.kind} stopped {down_s:g} s, started again"


def kill_hub(run: Run, down_s: float = 2.0) -> str:
    run.kill_hub()
    time.sleep(down_s)
    run.start_hub()
    return f"hub SIGKILLed, restarted after {down_s:g} s"


def kill_edge(run: Run, down_s: float = 2.0) -> str:
    edge = run.row.edges[0].edge
    run.kill_edge(edge)
    time.sleep(down_s)
    run.start_edge(edge)
    return f"edge {edge} SIGKILLed, restarted after {down_s:g} s (its outbox resends)"


def stop_postgres(run: Run, down_s: float = 30.0) -> str:
    assert run.pg is not None
    run.pg.stop()
    time.sleep(down_s)
    run.pg.start()
    return f"PostgreSQL stopped {down_s:g} s (pg_ctl stop -m fast), started again"


def stop_victoria(run: Run, down_s: float = 6.0) -> str:
    assert run.vm is not None
    run.vm.stop()
    time.sleep(down_s)
    run.vm.start()
    return f"VictoriaMetrics stopped {down_s:g} s, started again"


def fill_disk(run: Run, full_s: float = 4.0) -> str:
    """Fill the edge's small disk, hold it full, free it."""
    spec = next(s for s in run.row.edges if s.small_disk_mb is not None)
    filler = run.edge_dir(spec.edge) / "filler"
    with open(filler, "wb") as out:
        block = b"\0" * 65536
        with contextlib.suppress(OSError):  # ENOSPC: the disk is full
            while True:
                out.write(block)
                out.flush()
    time.sleep(full_s)
    filler.unlink()
    return f"edge {spec.edge}'s {spec.small_disk_mb} MiB disk full for {full_s:g} s"


def skew_note(run: Run) -> str:
    return ", ".join(f"edge {s.edge} clock {s.skew_s / 60:+g} min" for s in run.row.edges)


def cut_and_slow_link(run: Run, cut_s: float = 4.0, slow_s: float = 5.0) -> str:
    proxy = next(iter(run.edge_proxy.values()))
    proxy.cut()
    time.sleep(cut_s)
    proxy.restore()
    proxy.slow(0.3, 4000)
    time.sleep(slow_s)
    proxy.slow(0.0, None)
    return f"edge↔broker link cut {cut_s:g} s, then 300 ms latency and 4 kB/s for {slow_s:g} s"


def slow_hub(run: Run, slow_s: float = 8.0) -> str:
    assert run.hub_proxy is not None
    run.hub_proxy.slow(0.5, 2000)
    time.sleep(slow_s)
    run.hub_proxy.slow(0.0, None)
    return f"hub's broker link at 500 ms latency and 2 kB/s for {slow_s:g} s (the broker queues)"


ROWS: dict[str, Row] = {
    row.key: row
    for row in (
        Row("baseline", "no fault (baseline)", no_fault),
        Row("mosquitto-restart", "broker restarted: Mosquitto", restart_broker),
        Row("amqtt-restart", "broker restarted: amqtt (embedded)", restart_broker, broker="amqtt"),
        Row("hub-kill", "hub SIGKILLed and restarted", kill_hub),
        Row("edge-kill", "edge SIGKILLed and restarted", kill_edge, devices=72),
        Row("postgres-stop", "PostgreSQL stopped 30 s", stop_postgres, database="postgresql"),
        Row("tsdb-down", "time-series server down", stop_victoria, influx=True),
        Row("disk-full", "an edge's disk full", fill_disk, edges=(EdgeSpec("b2", small_disk_mb=8),)),
        Row(
            "clock-skew",
            "edge clocks skewed ±10 min",
            skew_note,
            edges=(EdgeSpec("b1", skew_s=600.0), EdgeSpec("b2", skew_s=-600.0)),
        ),
        Row(
            "link-cut-slow",
            "edge↔broker link cut, then slowed",
            cut_and_slow_link,
            edges=(EdgeSpec("b2", via_proxy=True),),
        ),
        Row("slow-hub", "a slow hub (its broker link throttled)", slow_hub, hub_via_proxy=True),
    )
}
"""Every row, in table order. Another row is one more ``Row`` (a setup and a fault function): a broker cluster
with a node killed lives in its own test (README, "Reliability")."""


@contextlib.contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A temporary directory for a run (bench/faults.py)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
