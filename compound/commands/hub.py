"""``compound hub``: hub ingest (validate, store, alarms, routing) plus the JSON API and live console, one process."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from compound.cli import add_broker_option, add_config_option, add_data_dir_option
from compound.clock import Clock, ScaledClock, WallClock
from compound.config import ConfigError, load_config

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    """Add the ``hub`` subcommand."""
    parser = sub.add_parser(
        "hub",
        help="run the hub: ingest, dead letters, dedup, alarms and routing, API and console",
        description="Subscribe to the compound's topics, validate every message (bad ones are dead-lettered "
        "with a reason), store events once, keep the alarm lifecycle and route alarms to the people on duty; "
        "serve the JSON API (/api/v1, docs at /docs) and the live console on --host/--port. "
        "Sign in with a token from `compound token PERSON_ID`. Runs until Ctrl-C.",
    )
    add_broker_option(parser)
    add_config_option(parser)
    add_data_dir_option(parser)
    parser.add_argument(
        "--db", default=None, help="database URL (default: sqlite:///<data-dir>/hub.db; postgresql+psycopg://...)"
    )
    parser.add_argument(
        "--max-skew-days",
        type=float,
        default=400,
        help="dead-letter device timestamps further than this from the hub clock (default 400 days: "
        "simulated clocks may start anywhere within a year)",
    )
    parser.add_argument("--replica", default="1", help="replica name, part of the stable MQTT client id (default 1)")
    parser.add_argument(
        "--mqtt-username",
        default=os.environ.get("COMPOUND_MQTT_USERNAME"),
        help="MQTT username (default $COMPOUND_MQTT_USERNAME); password from $COMPOUND_MQTT_PASSWORD",
    )
    parser.add_argument(
        "--sim-start",
        type=datetime.fromisoformat,
        metavar="ISO",
        help="put the hub on a shared simulated timeline: simulated time at --real-start (default: wall clock)",
    )
    parser.add_argument(
        "--real-start", type=float, metavar="UNIX", help="Unix time at which the clock reads --sim-start"
    )
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second (with --sim-start)")
    add_web_options(parser)
    parser.set_defaults(func=run)


def hub_clock(args: argparse.Namespace) -> Clock:
    """The hub's clock for acknowledge/resolve/notify times: the shared simulated timeline, else wall time."""
    start = getattr(args, "sim_start", None)
    if start is None:
        return WallClock()
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    return ScaledClock(start, speed=args.speed, real_start=args.real_start)


def add_web_options(parser: argparse.ArgumentParser) -> None:
    """``--host``, ``--port`` (0: any free port) and the session/token lifetimes of the console."""
    from hub.web.auth import DEFAULT_SESSION_TTL_S, DEFAULT_TOKEN_MAX_AGE_S

    parser.add_argument("--host", default="127.0.0.1", help="console/API address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8080, help="console/API port (default 8080; 0 picks a free port, printed at start)"
    )
    parser.add_argument(
        "--session-hours",
        type=float,
        default=DEFAULT_SESSION_TTL_S / 3600,
        help=f"life of a console login session (default {DEFAULT_SESSION_TTL_S / 3600:.0f} h)",
    )
    parser.add_argument(
        "--token-max-age-days",
        type=float,
        default=DEFAULT_TOKEN_MAX_AGE_S / 86400,
        help=f"oldest bearer token accepted, whatever its own expiry (default {DEFAULT_TOKEN_MAX_AGE_S / 86400:.0f})",
    )


def broker_kind(args: argparse.Namespace) -> str:
    """The broker kind; ``auto`` makes ingest probe whether the broker delivers shared subscriptions."""
    return str(getattr(args, "broker_kind", "auto"))


def run(args: argparse.Namespace) -> int:
    """Load the config, open the database, serve the API and console with ingest in the app's lifespan."""
    from hub.db import Database, default_url
    from hub.ingest import Ingestor, IngestSettings
    from hub.web import hub_app, make_server

    try:
        compound = load_config(args.config)
    except ConfigError as exc:
        print(f"{args.config}: {exc}", file=sys.stderr)
        return 1
    try:
        clock = hub_clock(args)
    except ValueError as exc:
        print(f"bad simulated clock: {exc}", file=sys.stderr)
        return 2
    db = Database(args.db or default_url(args.data_dir))
    settings = IngestSettings(
        max_skew=timedelta(days=args.max_skew_days),
        replica=args.replica,
        username=args.mqtt_username,
        password=os.environ.get("COMPOUND_MQTT_PASSWORD"),
    )
    ingestor = Ingestor(
        db,
        compound,
        host=args.broker.host,
        port=args.broker.port,
        broker_kind=broker_kind(args),
        settings=settings,
        clock=clock,
    )

    if not 0 <= args.port <= 65535:
        print(f"--port must be 0..65535, got {args.port}", file=sys.stderr)
        return 2
    try:
        app = hub_app(
            ingestor,
            data_dir=args.data_dir,
            session_ttl_s=args.session_hours * 3600,
            token_max_age_s=args.token_max_age_days * 86400,
        )
    except (OSError, ValueError) as exc:
        print(f"cannot start the console: {exc}", file=sys.stderr)
        db.dispose()
        return 1

    def started(url: str) -> None:
        print(f"console: {url}/  (API docs {url}/docs; sign in: compound token PERSON_ID --url)", flush=True)

    # One process, one event loop: uvicorn serves the app and the app's lifespan runs ingest.
    server = make_server(app, host=args.host, port=args.port, on_started=started)
    print(f"hub: {compound.id} on {args.broker} ({broker_kind(args)}), database {db.url}", file=sys.stderr, flush=True)
    try:
        asyncio.run(server.serve())
    finally:
        db.dispose()
    return 0 if server.started else 1
