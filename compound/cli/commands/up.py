"""``compound up``: the whole compound in one process tree: broker, hub (ingest + API + console), one edge per building.

Start order: the embedded amqtt broker (unless ``--broker``), the hub (ready once ``/healthz`` says ingest has
subscribed), then one ``compound edge`` per building and site, all on one simulated timeline. A banner
names the console URL, click-to-login links, the broker and the data dir. Ctrl-C/SIGTERM stops the edges,
then the hub, then the broker. With ``--duration`` the run ends by itself; ``--json`` then prints one JSON
report on stdout (alarms, events, duplicates, dead letters, seq gaps, outboxes) read from the hub's
database after every edge's last event has reached it; everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from compound.cli.commands.edge import add_timeline_options
from compound.cli.options import BrokerURL, add_broker_option, add_config_option, add_data_dir_option
from compound.cli.runner import ChildSpec, ProcessTree, free_port, http_ok, python_module
from compound.config import Compound, ConfigError, load_config
from compound.config.models import Person, Role

if TYPE_CHECKING:
    from hub.db import Database

log = logging.getLogger(__name__)

EVENT_LANE = 0
"""``edge.outbox.Lane.EVENT``: the outbox lane that holds events (read here with plain sqlite3)."""


@dataclass(frozen=True, slots=True)
class Plan:
    """What ``compound up`` decided, shared by every planner: broker, hub, timeline, paths."""

    args: argparse.Namespace
    compound: Compound
    broker: BrokerURL
    embedded_broker: bool
    sim_start: datetime
    real_start: float
    hub_port: int | None = None
    """Console/API port of the hub (``None``: no hub, ``--no-hub``)."""

    @property
    def data_dir(self) -> Path:
        """The data dir, absolute."""
        return Path(self.args.data_dir).resolve()

    @property
    def console_url(self) -> str | None:
        """``http://127.0.0.1:<port>`` of the hub's console and API."""
        return None if self.hub_port is None else f"http://{self.args.host}:{self.hub_port}"

    @property
    def db_url(self) -> str:
        """The hub's database: ``sqlite:///<data-dir>/hub.db``."""
        return f"sqlite:///{self.data_dir / 'hub.db'}"

    def clock_args(self) -> list[str]:
        """``--sim-start/--real-start/--speed``: the shared simulated timeline."""
        return [
            *("--sim-start", self.sim_start.isoformat(), "--real-start", repr(self.real_start)),
            *("--speed", repr(self.args.speed)),
        ]

    def timeline_args(self) -> list[str]:
        """Arguments that put an edge on the shared simulated timeline, with its shared end."""
        out = self.clock_args()
        if self.args.duration:
            out += ["--duration", repr(self.args.duration)]
        return out

    def common_args(self) -> list[str]:
        """--broker/--config/--data-dir for a child."""
        return ["--broker", str(self.broker), "--config", str(self.args.config), "--data-dir", str(self.args.data_dir)]

    def verbose(self) -> list[str]:
        """``-v``/``-vv`` for a child, as given to ``compound``."""
        return ["-" + "v" * self.args.verbose] if self.args.verbose else []


START_LEAD_S = 3.0
"""Real seconds between ``compound up`` planning and simulated time zero, without a hub."""

HUB_LEAD_S = 5.0
"""Extra lead when a hub starts before the edges (its imports, database and subscription)."""

EDGE_LEAD_S = 3.0
"""Edges are started this many real seconds before simulated time zero (their imports and connection).

An edge that runs before time zero sees its devices silent (the simulators start at zero) and, at high
speed, would report them offline; one that starts late misses the first scenario steps.
"""

HUB_RESTARTS = 5
"""How many times a hub that dies on its own is started again (its persistent session replays the rest)."""

Planner = Callable[[Plan], list[ChildSpec]]
"""Adds children to the tree (append a planner to ``PLANNERS``)."""


def broker_children(plan: Plan) -> list[ChildSpec]:
    """The embedded amqtt broker, unless --broker points elsewhere."""
    if not plan.embedded_broker:
        return []
    b = plan.broker
    return [
        ChildSpec(
            "broker",
            "broker",
            python_module("compound.broker", "--bind", f"{b.host}:{b.port}"),
            where=f"{b} (embedded amqtt)",
            ready_port=(b.host, b.port),
            ready_mqtt=True,
            essential=True,
        )
    ]


def hub_children(plan: Plan) -> list[ChildSpec]:
    """``compound hub`` (ingest + API + console) on the data dir's SQLite, ready once ingest has subscribed."""
    if plan.hub_port is None:
        return []
    kind = "amqtt" if plan.embedded_broker else plan.args.broker_kind
    argv = python_module("compound.cli", *plan.verbose(), "hub", "--broker-kind", kind, "--db", plan.db_url)
    argv += ["--host", plan.args.host, "--port", str(plan.hub_port), *plan.clock_args(), *plan.common_args()]
    health = f"{plan.console_url}/healthz"
    return [
        ChildSpec(
            "hub",
            "hub",
            argv,
            where=f"{plan.console_url}/ (database {plan.db_url})",
            ready_port=(plan.args.host, plan.hub_port),
            ready=lambda: http_ok(health),
            essential=True,
            restarts=HUB_RESTARTS,
        )
    ]


def edge_children(plan: Plan) -> list[ChildSpec]:
    """One ``compound edge`` per selected edge (buildings and sites)."""
    args = plan.args
    children = []
    for edge in args.edges or plan.compound.edges():
        argv = python_module("compound.cli", *plan.verbose(), "edge", "--edge", edge, "--driver", args.driver)
        if args.scenario:
            argv += ["--scenario", args.scenario]
        if args.seed is not None:
            argv += ["--seed", str(args.seed)]
        if args.reading_interval is not None:
            argv += ["--reading-interval", repr(args.reading_interval)]
        if args.cameras and any(d.source for d in plan.compound.devices_of_edge(edge)):
            argv += ["--cameras"]
        argv += plan.timeline_args() + plan.common_args()
        devices = len(plan.compound.devices_of_edge(edge))
        where = f"{devices} devices, outbox {outbox_path(plan, edge)}"
        children.append(ChildSpec(f"edge-{edge}", "edge", argv, where=where, finishes=bool(args.duration)))
    return children


PLANNERS: list[Planner] = [broker_children, hub_children, edge_children]
"""Planners in start order; each returns the children it adds."""

SERVICE_ROLES = frozenset({"broker", "hub"})
"""Children started (and ready) before the banner and the edges."""


def outbox_path(plan: Plan, edge: str) -> Path:
    """Where ``compound edge --edge EDGE`` keeps its outbox."""
    return plan.data_dir / f"edge-{edge}" / "outbox.db"


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "up",
        help="run the whole simulated compound: broker, hub + console, one edge agent per building",
        description="Start the embedded amqtt broker (unless --broker is given), the hub (ingest, API and live "
        "console on http://127.0.0.1:8080, SQLite under --data-dir) and one edge agent per building and site, all "
        "on one simulated timeline; print the console URL and click-to-login links. With --duration it runs "
        "headless and exits by itself when the simulated clock reaches the end (--json: one JSON report on "
        "stdout); without, it runs until Ctrl-C, which stops the edges, then the hub, then the broker.",
    )
    add_timeline_options(parser)
    parser.add_argument("--driver", default="sim", help="sensor driver of every edge (default: sim)")
    parser.add_argument(
        "--edges", type=lambda s: [e for e in s.split(",") if e], help="comma-separated edge ids (default: all)"
    )
    parser.add_argument(
        "--mqtt-port",
        type=int,
        default=int(os.environ.get("COMPOUND_MQTT_PORT", "1883")),
        help="port of the embedded broker (default 1883; 0 picks a free one)",
    )
    parser.add_argument("--reading-interval", type=float, metavar="SIM_SECONDS", help="readings per device (0: none)")
    parser.add_argument("--host", default="127.0.0.1", help="console/API address (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("COMPOUND_PORT", "8080")),
        help="console/API port (default 8080; 0 picks a free one; the URL is printed at start)",
    )
    parser.add_argument("--no-hub", action="store_true", help="start no hub (edges and broker only)")
    parser.add_argument(
        "--cameras",
        action="store_true",
        help="run the camera devices' vision pipelines on their edges (lift hold, fire lane; CPU-heavy)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="with --duration: print one JSON report on stdout at the end (alarms, events, duplicates, dead "
        "letters, seq gaps, outboxes, parameters); everything else goes to stderr",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="after the edges stop, wait up to this long (real seconds) for their last events to reach the hub",
    )
    add_broker_option(parser, embedded_default=True)
    add_config_option(parser)
    add_data_dir_option(parser)
    parser.set_defaults(func=run)


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def make_plan(args: argparse.Namespace) -> Plan:
    """Resolve config, scenario, broker, hub port and timeline; ``ConfigError``/``ValueError`` on bad input."""
    compound = load_config(args.config)
    unknown = [e for e in args.edges or () if e not in compound.edges()]
    if unknown:
        raise ValueError(f"unknown edge(s) {', '.join(unknown)}; edges: {', '.join(compound.edges())}")
    if args.json and not args.duration:
        raise ValueError("--json needs --duration (the report is printed when the run ends by itself)")
    if args.json and args.no_hub:
        raise ValueError("--json reads the hub's database: it cannot be combined with --no-hub")
    scenario_start = None
    if args.scenario:
        import simulators

        scenario_start = simulators.load_scenario(args.scenario).start
    embedded = args.broker is None
    broker = args.broker or BrokerURL("127.0.0.1", args.mqtt_port or free_port())
    hub_port: int | None = None
    if not args.no_hub:
        if not 0 <= args.port <= 65535:
            raise ValueError(f"--port must be 0..65535, got {args.port}")
        hub_port = args.port
        while not hub_port or (embedded and hub_port == broker.port):
            hub_port = free_port(args.host)
        if args.port and _port_in_use(args.host, hub_port):
            raise ValueError(f"port {hub_port} on {args.host} is in use; pick another with --port N (0: any free)")
    sim_start = args.sim_start or scenario_start or datetime.now(UTC)
    # A lead lets the broker, the hub and every edge start and connect before simulated time starts to run.
    lead = START_LEAD_S + (HUB_LEAD_S if hub_port is not None else 0.0)
    real_start = args.real_start if args.real_start is not None else time.time() + lead
    return Plan(args, compound, broker, embedded, sim_start, real_start, hub_port)


# ---- who gets a login link


def focus_grid(plan: Plan) -> str | None:
    """The micro-grid (or other grid) of the first flat or device the scenario touches."""
    if not plan.args.scenario:
        return None
    import simulators
    from simulators.scenario import parse_flat

    compound = plan.compound
    for step in simulators.load_scenario(plan.args.scenario).steps():
        if step.flat is not None:
            building, unit, _ = parse_flat(step.flat)
            for micro in compound.grids.micro:
                if (micro.building, micro.unit) == (building, unit):
                    return micro.id
        if step.device is not None and step.device in compound.devices:
            return compound.grid_of(compound.devices[step.device])
    return None


def on_duty_or_any(compound: Compound, role: Role, grid: str | None, at: datetime) -> tuple[Person | None, bool]:
    """A person of ``role`` on duty at ``at`` for ``grid``, else anyone of that role there; ``(person, on_duty)``."""
    found = compound.on_duty(role, grid, at)
    if found:
        return found[0], True
    people = [p for p in compound.people.values() if p.role == role]
    local = [p for p in people if grid is None or grid in p.grids]
    pick = local or people
    return (pick[0] if pick else None), False


@dataclass(frozen=True, slots=True)
class LoginLink:
    """A click-to-login console link for one person."""

    person: Person
    label: str
    url: str


def login_links(plan: Plan) -> list[LoginLink]:
    """Links for the property manager on duty and a micro-grid worker (of the scenario's grid) at sim start."""
    from hub.web.auth import TokenSigner, load_secret_key, login_url

    assert plan.console_url is not None
    signer = TokenSigner(load_secret_key(plan.data_dir))
    compound = plan.compound
    grid = focus_grid(plan) or (compound.grids.micro[0].id if compound.grids.micro else None)
    links = []
    wanted = [(Role.PROPERTY_MANAGER, None, "property manager"), (Role.MICRO_GRID_WORKER, grid, "micro-grid worker")]
    for role, where, title in wanted:
        person, duty = on_duty_or_any(compound, role, where, plan.sim_start)
        if person is None:
            continue
        label = f"{title}{f' of {where}' if where else ''}{' on duty' if duty else ' (none on duty)'}"
        links.append(LoginLink(person, label, login_url(plan.console_url, signer.issue_for(compound, person.id))))
    return links


def banner(plan: Plan, tree: ProcessTree) -> str:
    """What a user sees once the broker and hub are up: console, logins, broker, data dir, scenario."""
    args = plan.args
    span = f"{args.duration:g} simulated s" if args.duration else "until Ctrl-C"
    lines = [
        f"compound up: {plan.compound.name} ({plan.compound.id})",
        f"  scenario   {args.scenario or '(daily routines only)'}, sim start {plan.sim_start.isoformat()}, "
        f"speed x{args.speed:g}, {span}",
    ]
    if plan.console_url:
        lines.append(f"  console    {plan.console_url}/   (API {plan.console_url}/docs)")
        for link in login_links(plan):
            lines.append(f"  log in as  {link.person.name} ({link.person.id}), {link.label}:")
            lines.append(f"             {link.url}")
    lines.append(f"  broker     {plan.broker}{' (embedded amqtt)' if plan.embedded_broker else ''}")
    lines.append(f"  data dir   {plan.data_dir}")
    lines.append("  processes")
    width = max(len(s.name) for s in tree.specs)
    lines += [f"    {s.name:<{width}}  {s.role:<6} {s.where}" for s in tree.specs]
    if not args.duration:
        lines.append("  Ctrl-C stops everything.")
    return "\n".join(lines)


# ---- the --json report


def read_outbox(path: Path) -> tuple[int, int | None]:
    """``(last seq, events waiting)`` of an edge outbox, read-only; ``(0, None)`` when there is none yet."""
    if not path.exists():
        return 0, None
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        row = conn.execute("SELECT value FROM state WHERE key = 'seq'").fetchone()
        waiting = conn.execute("SELECT count(*) FROM outbox WHERE lane = ?", (EVENT_LANE,)).fetchone()
        return (int(row[0]) if row else 0), int(waiting[0])
    except sqlite3.Error as exc:
        log.warning("cannot read outbox %s: %s", path, exc)
        return 0, None
    finally:
        conn.close()


@dataclass(slots=True)
class Baseline:
    """Where the data dir stood before this run's edges started, so the report counts this run only."""

    edge_seq: dict[str, int] = field(default_factory=dict)
    max_alarm: int = 0
    max_event: int = 0
    max_dead_letter: int = 0
    max_gap: int = 0
    duplicates: dict[str, int] = field(default_factory=dict)


def take_baseline(plan: Plan, db: Database, edges: list[str]) -> Baseline:
    """Record outbox seqs and the hub tables' high-water marks."""
    from sqlalchemy import func, select

    from hub.db import Alarm, DeadLetter, EdgeRecord, EventRecord, SeqGap

    base = Baseline(edge_seq={e: read_outbox(outbox_path(plan, e))[0] for e in edges})
    with db.session() as session:
        base.max_alarm = int(session.scalar(select(func.max(Alarm.id))) or 0)
        base.max_event = int(session.scalar(select(func.max(EventRecord.id))) or 0)
        base.max_dead_letter = int(session.scalar(select(func.max(DeadLetter.id))) or 0)
        base.max_gap = int(session.scalar(select(func.max(SeqGap.id))) or 0)
        base.duplicates = {e.edge: e.duplicates for e in session.scalars(select(EdgeRecord))}
    return base


def events_received(db: Database, edge: str, after_seq: int, upto_seq: int) -> int:
    """Events the hub stored for ``edge`` with a seq in ``(after_seq, upto_seq]``."""
    from sqlalchemy import func, select

    from hub.db import EventRecord

    with db.session() as session:
        stmt = select(func.count()).where(EventRecord.edge == edge, EventRecord.seq > after_seq)
        return int(session.scalar(stmt.where(EventRecord.seq <= upto_seq)) or 0)


def drain(
    plan: Plan,
    db: Database,
    base: Baseline,
    edges: list[str],
    timeout: float,
    cancelled: Callable[[], bool] = lambda: False,
) -> dict[str, dict[str, Any]]:
    """Wait until the hub holds every event the edges sent this run (or ``timeout``, or ``cancelled``)."""
    deadline = time.monotonic() + timeout
    while True:
        report: dict[str, dict[str, Any]] = {}
        for edge in edges:
            last, waiting = read_outbox(outbox_path(plan, edge))
            produced = last - base.edge_seq.get(edge, 0)
            report[edge] = {
                "produced": produced,
                "first_seq": base.edge_seq.get(edge, 0) + 1 if produced else None,
                "last_seq": last,
                "outbox_events_waiting": waiting,
                "received": events_received(db, edge, base.edge_seq.get(edge, 0), last),
            }
        missing = sum(r["produced"] - (r["outbox_events_waiting"] or 0) - r["received"] for r in report.values())
        if missing <= 0 or time.monotonic() > deadline or cancelled():
            for r in report.values():
                r["missing"] = r["produced"] - r["received"]
            return report
        time.sleep(0.2)


def collect_report(plan: Plan, db: Database, base: Baseline, edges: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """This run's alarms (the API's fields), events, duplicates, dead letters and seq gaps, from the hub's DB."""
    from sqlalchemy import func, or_, select
    from sqlalchemy.orm import selectinload

    from hub.alarms.lifecycle import to_public
    from hub.db import Alarm, DeadLetter, EdgeRecord, EventRecord, SeqGap

    with db.session() as session:
        touched = select(EventRecord.alarm_id).where(EventRecord.id > base.max_event)
        stmt = (
            select(Alarm)
            .options(selectinload(Alarm.assignees))
            .where(or_(Alarm.id > base.max_alarm, Alarm.id.in_(touched)))
            .order_by(Alarm.id)
        )
        alarms = [to_public(a).model_dump(mode="json") for a in session.scalars(stmt)]
        received = int(session.scalar(select(func.count()).where(EventRecord.id > base.max_event)) or 0)
        dead = dict(
            session.execute(
                select(DeadLetter.reason, func.count())
                .where(DeadLetter.id > base.max_dead_letter)
                .group_by(DeadLetter.reason)
            ).all()
        )
        gap_rows = [
            (g.edge, g.from_seq, g.to_seq) for g in session.scalars(select(SeqGap).where(SeqGap.id > base.max_gap))
        ]
        records = {e.edge: e for e in session.scalars(select(EdgeRecord))}
    duplicates = {e: r.duplicates - base.duplicates.get(e, 0) for e, r in records.items()}
    for edge, figures in edges.items():
        record = records.get(edge)
        figures["duplicates"] = duplicates.get(edge, 0)
        figures["hub_max_seq"] = record.max_seq if record else None
        figures["status"] = record.status if record else None
    return {
        "alarms": alarms,
        "events": {
            "received": received,
            "produced": sum(f["produced"] for f in edges.values()),
            "missing": sum(max(0, f["missing"]) for f in edges.values()),
            "drained": all(f["missing"] <= 0 for f in edges.values()),
        },
        "duplicates": sum(duplicates.values()),
        "dead_letters": {"total": sum(dead.values()), "by_reason": dead},
        "seq_gaps": {
            "count": len(gap_rows),
            "missing": sum(to - start + 1 for _, start, to in gap_rows),
            "gaps": [{"edge": edge, "from_seq": start, "to_seq": to} for edge, start, to in gap_rows],
        },
        "edges": edges,
    }


def parameters(plan: Plan) -> dict[str, Any]:
    """The run's parameters, for the report."""
    args = plan.args
    return {
        "compound": plan.compound.id,
        "scenario": args.scenario,
        "duration_s": args.duration,
        "speed": args.speed,
        "seed": args.seed,
        "sim_start": plan.sim_start.isoformat(),
        "real_start": plan.real_start,
        "broker": str(plan.broker),
        "embedded_broker": plan.embedded_broker,
        "console": plan.console_url,
        "database": plan.db_url,
        "data_dir": str(plan.data_dir),
        "edges": list(args.edges or plan.compound.edges()),
    }


# ---- run


def run(args: argparse.Namespace) -> int:
    try:
        plan = make_plan(args)
    except (ConfigError, ValueError) as exc:
        print(f"compound up: {exc}", file=sys.stderr)
        return 2
    # With --json, stdout carries the report alone: the banner and the children's output go to stderr.
    say: TextIO = sys.stderr if args.json else sys.stdout
    tree = ProcessTree(child_stdout=sys.stderr.fileno() if args.json else None)
    specs = [spec for planner in PLANNERS for spec in planner(plan)]
    for spec in specs:
        if spec.role in SERVICE_ROLES:
            tree.add(spec)
    try:
        tree.start()
        for spec in specs:
            if spec.role not in SERVICE_ROLES:
                tree.add(spec)
        print(banner(plan, tree), file=say, flush=True)
        db = _open_db(plan)
        edges = list(args.edges or plan.compound.edges())
        base = take_baseline(plan, db, edges) if db is not None else None
        early = plan.real_start - EDGE_LEAD_S - time.time()
        if early > 0:
            time.sleep(early)
        tree.start()
    except RuntimeError as exc:  # a child did not come up; the tree has stopped the others
        print(f"compound up: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        tree.stop()
        print(f"compound up: stopped ({tree.stop_reason or 'signal SIGINT'}) while starting", file=say, flush=True)
        return 0
    except (OSError, ValueError) as exc:  # e.g. an unreadable secret key for the login links
        tree.stop()
        print(f"compound up: {exc}", file=sys.stderr)
        return 1
    lag = time.time() - plan.real_start
    if lag > 0:
        log.warning("edges started %.1f s after simulated time zero (scenario steps before that ran unseen)", lag)
    report: dict[str, Any] = {}

    def finish() -> None:
        if db is None or base is None:
            return
        figures = drain(plan, db, base, edges, args.drain_timeout, lambda: tree.stop_requested)
        report.update(collect_report(plan, db, base, figures))

    try:
        code = tree.wait(before_stop=finish if args.json else None)
    finally:
        if db is not None:
            db.dispose()
    print(f"compound up: stopped ({tree.stop_reason}), exit {code}", file=say, flush=True)
    if args.json:
        out = {"parameters": {**parameters(plan), "edges_start_lag_s": round(lag, 3)}, **report}
        out["processes"] = tree.summary()
        out["exit_code"] = code
        print(json.dumps(out, indent=2, ensure_ascii=False), flush=True)
    return code


def _open_db(plan: Plan) -> Database | None:
    """The hub's database, for the report (``None`` without a hub)."""
    if plan.hub_port is None:
        return None
    from hub.db import Database

    return Database(plan.db_url)
