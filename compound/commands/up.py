"""``compound up``: the embedded broker plus one edge agent per building/site on one simulated timeline."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from compound.cli import BrokerURL, add_broker_option, add_config_option, add_data_dir_option
from compound.commands.edge import add_timeline_options
from compound.config import Compound, ConfigError, load_config
from compound.runner import ChildSpec, ProcessTree, free_port, python_module


@dataclass(frozen=True, slots=True)
class Plan:
    """What ``compound up`` decided, shared by every planner: broker, timeline, paths."""

    args: argparse.Namespace
    compound: Compound
    broker: BrokerURL
    embedded_broker: bool
    sim_start: datetime
    real_start: float

    def timeline_args(self) -> list[str]:
        """Arguments that put a child process on the shared simulated timeline."""
        out = ["--sim-start", self.sim_start.isoformat(), "--real-start", repr(self.real_start)]
        out += ["--speed", repr(self.args.speed)]
        if self.args.duration:
            out += ["--duration", repr(self.args.duration)]
        return out

    def common_args(self) -> list[str]:
        """--broker/--config/--data-dir for a child."""
        return ["--broker", str(self.broker), "--config", str(self.args.config), "--data-dir", str(self.args.data_dir)]


START_LEAD_S = 3.0
"""Real seconds between ``compound up`` planning and simulated time zero."""

Planner = Callable[[Plan], list[ChildSpec]]
"""Adds children to the tree (the hub joins here: append a planner to ``PLANNERS``)."""


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


def edge_children(plan: Plan) -> list[ChildSpec]:
    """One ``compound edge`` per selected edge (buildings and sites)."""
    args = plan.args
    verbose = ["-" + "v" * args.verbose] if args.verbose else []
    children = []
    for edge in args.edges or plan.compound.edges():
        argv = python_module("compound.cli", *verbose, "edge", "--edge", edge, "--driver", args.driver)
        if args.scenario:
            argv += ["--scenario", args.scenario]
        if args.seed is not None:
            argv += ["--seed", str(args.seed)]
        if args.reading_interval is not None:
            argv += ["--reading-interval", repr(args.reading_interval)]
        argv += plan.timeline_args() + plan.common_args()
        devices = len(plan.compound.devices_of_edge(edge))
        where = f"{devices} devices, outbox {Path(args.data_dir) / f'edge-{edge}' / 'outbox.db'}"
        children.append(ChildSpec(f"edge-{edge}", "edge", argv, where=where, finishes=bool(args.duration)))
    return children


PLANNERS: list[Planner] = [broker_children, edge_children]
"""Planners in start order; each returns the children it adds."""


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "up",
        help="run the simulated compound: broker + one edge agent per building",
        description="Start the embedded amqtt broker (unless --broker is given) and one edge agent per building "
        "and site, all on one simulated timeline. With --duration it runs headless and exits by itself when the "
        "simulated clock reaches the end; without, it runs until Ctrl-C. Prints what runs where at start.",
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
    add_broker_option(parser, embedded_default=True)
    add_config_option(parser)
    add_data_dir_option(parser)
    parser.set_defaults(func=run)


def make_plan(args: argparse.Namespace) -> Plan:
    """Resolve config, scenario, broker and timeline; ``ConfigError``/``ValueError`` on bad input."""
    compound = load_config(args.config)
    unknown = [e for e in args.edges or () if e not in compound.edges()]
    if unknown:
        raise ValueError(f"unknown edge(s) {', '.join(unknown)}; edges: {', '.join(compound.edges())}")
    scenario_start = None
    if args.scenario:
        import simulators

        scenario_start = simulators.load_scenario(args.scenario).start
    embedded = args.broker is None
    broker = args.broker or BrokerURL("127.0.0.1", args.mqtt_port or free_port())
    sim_start = args.sim_start or scenario_start or datetime.now(UTC)
    # A short lead lets every child import and connect before simulated time starts to run.
    real_start = args.real_start if args.real_start is not None else time.time() + START_LEAD_S
    return Plan(args, compound, broker, embedded, sim_start, real_start)


def run(args: argparse.Namespace) -> int:
    try:
        plan = make_plan(args)
    except (ConfigError, ValueError) as exc:
        print(f"compound up: {exc}", file=sys.stderr)
        return 2
    tree = ProcessTree()
    for planner in PLANNERS:
        for spec in planner(plan):
            tree.add(spec)
    span = f"{args.duration:g} simulated s" if args.duration else "until Ctrl-C"
    print(
        f"compound up: {plan.compound.name} ({plan.compound.id}), scenario {args.scenario or '(routines only)'}, "
        f"sim start {plan.sim_start.isoformat()}, speed x{args.speed:g}, {span}\n{tree.describe()}",
        flush=True,
    )
    try:
        tree.start()
    except RuntimeError as exc:
        print(f"compound up: {exc}", file=sys.stderr)
        return 1
    code = tree.wait()
    print(f"compound up: stopped ({tree.stop_reason}), exit {code}", flush=True)
    return code
