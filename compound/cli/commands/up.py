"""``compound up``: the whole compound in one process tree: broker, hub (ingest + API + console), one edge per building.

Start order: the embedded amqtt broker (unless ``--broker``), the hub (ready once ``/healthz`` says ingest has
subscribed), then one ``compound edge`` per building and site, all on one simulated timeline. A banner
names the console URL, click-to-login links, the broker and the data dir. Ctrl-C/SIGTERM stops the edges,
then the hub, then the broker. With ``--duration`` the run ends by itself; ``--json`` then prints one JSON
report on stdout (alarms, events, duplicates, dead letters, seq gaps, outboxes), told by the hub and the
edges' outboxes after every edge's last event has reached the hub (``up_report``); everything else goes to
stderr. The banner and its login links are in ``up_banner``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from compound.cli.commands.edge import add_driver_options, add_timeline_options
from compound.cli.commands.keys import provision_for
from compound.cli.commands.up_banner import banner
from compound.cli.options import BrokerURL, add_broker_option, add_config_option, add_data_dir_option
from compound.cli.runner import ChildSpec, ProcessTree, free_port, http_ok, mqtt_ready, python_module
from compound.config import Compound, ConfigError, load_config
from compound.identity import HUB, BrokerAuthFiles, edge_username, read_secret, secret_path

if TYPE_CHECKING:
    from compound.cli.commands.up_report import RunReport

log = logging.getLogger(__name__)


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
    drill: str | None = None
    """Why this run is a drill (``--drill``, or a scenario marked ``drill: true``); ``None``: not a drill."""

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

    def auth_args(self, username: str) -> list[str]:
        """``--mqtt-username/--mqtt-password-file``: a child's identity on the broker (``compound keys``)."""
        return ["--mqtt-username", username, "--mqtt-password-file", str(secret_path(self.data_dir, username))]

    def verbose(self) -> list[str]:
        """``-v``/``-vv`` for a child, as given to ``compound``."""
        return ["-" + "v" * self.args.verbose] if self.args.verbose else []


START_LEAD_S = 3.0
"""Real seconds between ``compound up`` planning and simulated time zero, without a hub."""

HUB_LEAD_S = 5.0
"""Extra lead when a hub starts before the edges (its imports, database and subscription)."""

EDGE_LEAD_S = 3.0
"""Edges are started this many real seconds before simulated time zero (their imports and connection).

An edge up before time zero connects and waits for it (``Clock.started``): it does not tick before it, where
its simulated devices, which start at zero, would look silent (at x300 every one was flagged offline). One
that starts late misses the first scenario steps.
"""

SIMULATED_MAX_SKEW = "400d"
"""``compound hub --max-skew`` in a simulated run (the hub's default is minutes, for real device clocks): the
hub shares the edges' timeline, but a scaled clock multiplies any real lag by ``--speed``, and an edge started
by hand against the same broker may keep a timeline of its own, anywhere within a year of today."""

HUB_RESTARTS = 5
"""How many times a hub that dies on its own is started again (its persistent session replays the rest)."""

Planner = Callable[[Plan], list[ChildSpec]]
"""Adds children to the tree (append a planner to ``PLANNERS``)."""


def broker_children(plan: Plan) -> list[ChildSpec]:
    """The embedded amqtt broker, unless --broker points elsewhere; authenticated unless --broker-anonymous."""
    if not plan.embedded_broker:
        return []
    b = plan.broker
    argv = python_module("compound.broker", "--bind", f"{b.host}:{b.port}")
    if plan.args.broker_anonymous:  # for debugging: any client may connect and publish anywhere
        return [
            ChildSpec(
                "broker",
                "broker",
                argv,
                where=f"{b} (embedded amqtt, ANONYMOUS)",
                ready_port=(b.host, b.port),
                ready_mqtt=True,
                essential=True,
            )
        ]
    auth_dir = BrokerAuthFiles.under(plan.data_dir).directory  # anonymous clients refused, topics granted per identity
    return [
        ChildSpec(
            "broker",
            "broker",
            [*argv, "--auth", str(auth_dir)],
            where=f"{b} (embedded amqtt, authenticated)",
            # Ready once it accepts the hub's identity: a refused probe would leave amqtt 0.12 a session that never
            # ends (it registers a client before it checks the credentials).
            ready=lambda: mqtt_ready(b.host, b.port, (HUB, read_secret(secret_path(plan.data_dir, HUB)))),
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
    argv += ["--max-skew", SIMULATED_MAX_SKEW, *plan.auth_args(HUB)]
    if plan.args.duration:  # headless: the edges stop on purpose (offline status) before the report is read
        argv += ["--no-edge-supervision"]
    if plan.drill:
        argv += ["--drill", plan.drill]
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
        for option in args.driver_option:
            argv += ["--driver-option", option]
        if args.scenario:
            argv += ["--scenario", args.scenario]
        if args.seed is not None:
            argv += ["--seed", str(args.seed)]
        if args.reading_interval is not None:
            argv += ["--reading-interval", repr(args.reading_interval)]
        if args.cameras and any(d.source for d in plan.compound.devices_of_edge(edge)):
            argv += ["--cameras"]
        argv += plan.timeline_args() + plan.common_args() + plan.auth_args(edge_username(edge))
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
    add_driver_options(parser)
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
        "--drill",
        action="store_true",
        help="a drill (演练): every alarm of the run is pushed marked as a drill and kept out of the response "
        "metrics (a scenario with `drill: true` is one anyway)",
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
    parser.add_argument(
        "--broker-anonymous",
        action="store_true",
        help="run the embedded amqtt broker without authentication, for debugging: any client may connect and "
        "publish anywhere (by default anonymous clients are refused and topics granted per identity, as "
        "`compound keys` provisions them)",
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
    drill = "演练：compound up --drill" if args.drill else None
    if args.scenario:
        import simulators

        scenario = simulators.load_scenario(args.scenario)
        scenario_start = scenario.start
        if scenario.drill or args.drill:
            drill = f"演练：场景 {scenario.name}"
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
    return Plan(args, compound, broker, embedded, sim_start, real_start, hub_port, drill)


# ---- the --json report


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
    try:  # every child gets its own broker identity (the embedded broker enforces them)
        provision_for(args)
    except (OSError, ValueError) as exc:
        print(f"compound up: cannot provision broker credentials in {plan.data_dir}: {exc}", file=sys.stderr)
        return 1
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
        run_report = _begin_report(plan) if args.json else None
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
        if run_report is not None:
            report.update(run_report.collect(run_report.drain(args.drain_timeout, lambda: tree.stop_requested)))

    try:
        code = tree.wait(before_stop=finish if run_report is not None else None)
    finally:
        if run_report is not None:
            run_report.db.dispose()
    print(f"compound up: stopped ({tree.stop_reason}), exit {code}", file=say, flush=True)
    if args.json:
        out = {"parameters": {**parameters(plan), "edges_start_lag_s": round(lag, 3)}, **report}
        out["processes"] = tree.summary()
        out["exit_code"] = code
        print(json.dumps(out, indent=2, ensure_ascii=False), flush=True)
    return code


def _begin_report(plan: Plan) -> RunReport:
    """Where the hub's store and the edges' outboxes stand before the edges start (``--json`` needs a hub)."""
    from compound.cli.commands.up_report import RunReport
    from hub.db import Database

    edges = plan.args.edges or plan.compound.edges()
    return RunReport.begin(Database(plan.db_url), {edge: outbox_path(plan, edge) for edge in edges})
