"""``compound edge``: run one edge agent (drivers -> rules -> on-disk outbox -> MQTT)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from compound.cli.options import (
    add_broker_fallback_option,
    add_broker_option,
    add_config_option,
    add_data_dir_option,
    add_mqtt_auth_options,
    broker_fallbacks,
    mqtt_credentials,
    mqtt_tls,
    positive_number,
)
from compound.clock import ScaledClock
from compound.config import ConfigError, load_config
from compound.identity import edge_username

log = logging.getLogger(__name__)


def _iso(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"time needs a UTC offset, e.g. 2026-11-24T02:00:00+08:00: {value!r}")
    return moment


def _non_negative(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0: {value!r}")
    return number


def _count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0: {value!r}")
    return number


def add_driver_options(parser: argparse.ArgumentParser) -> None:
    """``--driver NAME`` and repeatable ``--driver-option KEY=VALUE`` (also used by ``compound up``)."""
    parser.add_argument("--driver", default="sim", help="sensor driver (default: sim, the simulated gateway)")
    parser.add_argument(
        "--driver-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option for the driver's factory, passed as a string (repeatable; see compound/drivers.py)",
    )


def add_timeline_options(parser: argparse.ArgumentParser) -> None:
    """Options that place a process on a shared simulated timeline (also used by ``compound up``)."""
    parser.add_argument("--scenario", metavar="NAME", help="scenario from configs/scenarios/ (or a YAML path)")
    parser.add_argument("--seed", type=int, help="random seed of the simulators (default: the scenario's, else 0)")
    parser.add_argument(
        "--speed", type=positive_number, default=1.0, help="simulated seconds per real second (default 1)"
    )
    parser.add_argument(
        "--sim-start",
        type=_iso,
        metavar="ISO",
        help="simulated time at --real-start (default: scenario start, else now)",
    )
    parser.add_argument(
        "--real-start", type=float, metavar="UNIX", help="Unix time at which the simulated clock reads --sim-start"
    )
    parser.add_argument(
        "--duration",
        type=positive_number,
        metavar="SIM_SECONDS",
        help="stop when the simulated clock reaches --sim-start plus this many seconds (a shared end for a tree)",
    )


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "edge",
        help="run one edge agent",
        description="Run the edge agent of one building or site: poll its sensor driver on a (simulated) clock, "
        "apply the rules, keep every event in an on-disk outbox (DATA_DIR/edge-<id>/outbox.db) until the broker "
        "acknowledges it, publish readings, heartbeats and a retained status. Stops on Ctrl-C/SIGTERM or after "
        "--duration simulated seconds, after trying to drain the outbox.",
    )
    parser.add_argument("--edge", required=True, help="edge id, e.g. b2 (see `compound check-config`)")
    add_driver_options(parser)
    add_timeline_options(parser)
    parser.add_argument(
        "--tick", type=positive_number, metavar="SIM_SECONDS", help="rule tick (default: 1 s, more at high speed)"
    )
    parser.add_argument(
        "--reading-interval",
        type=_non_negative,
        metavar="SIM_SECONDS",
        help="seconds between readings per device (default: rules.reading_interval_s; 0 turns readings off)",
    )
    parser.add_argument("--window", type=int, default=64, help="QoS 1 messages in flight at most (default 64)")
    parser.add_argument("--max-messages", type=int, default=100_000, help="outbox capacity in messages")
    parser.add_argument("--max-outbox-bytes", type=int, help="outbox disk quota in bytes (default: the disk)")
    parser.add_argument(
        "--journal-max-events",
        type=_count,
        default=100_000,
        help="sent events kept for resends requested by the hub (default 100000; 0 keeps none)",
    )
    parser.add_argument(
        "--journal-max-days",
        type=_non_negative,
        default=7.0,
        help="days a sent event is kept for resends, whichever bound comes first (default 7)",
    )
    parser.add_argument(
        "--cameras",
        action="store_true",
        help="also run the vision pipeline of the edge's camera devices (configs/vision.yaml; lift held locally)",
    )
    parser.add_argument(
        "--camera",
        action="append",
        default=[],
        metavar="DEVICE=SOURCE",
        help="with --cameras: play SOURCE on camera DEVICE instead of its devices.yaml source, "
        "e.g. b2-u1-lift1-cam=sim:lift-bicycle:3 or a video file (repeatable)",
    )
    add_broker_option(parser)
    add_broker_fallback_option(parser)
    add_mqtt_auth_options(parser)
    add_config_option(parser)
    add_data_dir_option(parser)
    parser.set_defaults(func=run)


def build_clock(args: argparse.Namespace, scenario_start: datetime | None) -> ScaledClock:
    """The shared simulated clock from --sim-start/--real-start/--speed (defaults: scenario start, now)."""
    start = args.sim_start or scenario_start or datetime.now(UTC)
    return ScaledClock(start, speed=args.speed, real_start=args.real_start)


def run(args: argparse.Namespace) -> int:
    import simulators
    from compound.drivers import build_driver, run_options
    from edge.agent import AgentOptions, EdgeAgent
    from edge.outbox import OutboxInUse

    simulators.register()
    try:
        compound = load_config(args.config)
        scenario = simulators.load_scenario(args.scenario) if args.scenario else None
    except ConfigError as exc:
        print(f"compound edge: {exc}", file=sys.stderr)
        return 2
    if args.edge not in compound.edges():
        print(f"compound edge: unknown edge {args.edge!r}; edges: {', '.join(compound.edges())}", file=sys.stderr)
        return 2
    clock = build_clock(args, scenario.start if scenario else None)
    bad_options = [o for o in args.driver_option if "=" not in o]
    if bad_options:
        print(f"compound edge: --driver-option needs KEY=VALUE, got {bad_options}", file=sys.stderr)
        return 2
    options: dict[str, Any] = dict(o.split("=", 1) for o in args.driver_option)
    try:
        driver = build_driver(
            args.driver, compound, args.edge, clock, **run_options(clock.start, scenario, args.seed), **options
        )
    except (ValueError, TypeError, ConfigError) as exc:
        print(f"compound edge: cannot start driver {args.driver!r}: {exc}", file=sys.stderr)
        return 2
    tick = args.tick or max(1.0, args.speed / 20.0)  # at most ~20 ticks per real second
    agent_options = AgentOptions(
        tick_s=tick,
        reading_interval_s=args.reading_interval,
        until=clock.start + timedelta(seconds=args.duration) if args.duration else None,
        window=args.window,
        max_messages=args.max_messages,
        max_bytes=args.max_outbox_bytes,
        journal_max_events=args.journal_max_events,
        journal_max_age_s=args.journal_max_days * 86_400.0,
        cameras=args.cameras,
        camera_sources=tuple((c.split("=", 1)[0], c.split("=", 1)[1]) for c in args.camera if "=" in c),
    )
    try:
        fallbacks = broker_fallbacks(args)
    except ValueError as exc:
        print(f"compound edge: {exc}", file=sys.stderr)
        return 2
    bad_cameras = [c for c in args.camera if "=" not in c]
    if bad_cameras or (args.camera and not args.cameras):
        print(f"compound edge: --camera needs --cameras and DEVICE=SOURCE, got {args.camera}", file=sys.stderr)
        return 2
    try:
        username, password = mqtt_credentials(args, edge_username(args.edge))
        tls = mqtt_tls(args, edge_username(args.edge))
    except (OSError, ValueError) as exc:
        print(f"compound edge: cannot read the MQTT password or TLS files: {exc}", file=sys.stderr)
        return 2
    try:
        agent = EdgeAgent(
            compound,
            args.edge,
            [driver],
            clock,
            host=args.broker.host,
            port=args.broker.port,
            fallbacks=fallbacks,
            data_dir=args.data_dir,
            options=agent_options,
            username=username,
            password=password,
            tls=tls,
        )
    except OutboxInUse as exc:
        print(f"compound edge: {exc}; is another `compound edge --edge {args.edge}` running?", file=sys.stderr)
        return 2
    except sqlite3.DatabaseError as exc:
        print(
            f"compound edge: the outbox under {args.data_dir}/edge-{args.edge}/ is unreadable ({exc}); "
            "move it aside to start with an empty one (its unsent events would be lost)",
            file=sys.stderr,
        )
        return 2
    except (OSError, ValueError) as exc:  # a camera source or vision.yaml (with --cameras), or the data dir
        print(f"compound edge: cannot start edge {args.edge}: {exc}", file=sys.stderr)
        return 2
    print(
        f"edge {args.edge}: {len(agent.engine.devices)} devices via {args.driver}, broker {args.broker}, "
        f"outbox {agent.outbox.path} ({agent.outbox.depth()} waiting), sim {clock.now().isoformat()} x{args.speed:g}",
        flush=True,
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await agent.run(stop)

    asyncio.run(main())
    return 0
