"""``compound hub``: run hub ingest (validate, store, alarms, routing) against a broker and a database."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from datetime import timedelta
from typing import Any

from compound.cli import add_broker_option, add_config_option, add_data_dir_option
from compound.config import ConfigError, load_config

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    """Add the ``hub`` subcommand."""
    parser = sub.add_parser(
        "hub",
        help="run the hub: ingest, dead letters, dedup, alarms and routing",
        description="Subscribe to the compound's topics, validate every message (bad ones are dead-lettered "
        "with a reason), store events once, keep the alarm lifecycle and route alarms to the people on duty. "
        "Runs until Ctrl-C.",
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
    parser.set_defaults(func=run)


def broker_kind(args: argparse.Namespace) -> str:
    """The broker kind, resolving ``auto`` (an explicit --broker is taken as Mosquitto-like)."""
    kind = str(getattr(args, "broker_kind", "auto"))
    return "mosquitto" if kind == "auto" else kind


def run(args: argparse.Namespace) -> int:
    """Load the config, open the database and ingest until SIGINT/SIGTERM."""
    from hub.db import Database, default_url
    from hub.ingest import Ingestor, IngestSettings

    try:
        compound = load_config(args.config)
    except ConfigError as exc:
        print(f"{args.config}: {exc}", file=sys.stderr)
        return 1
    db = Database(args.db or default_url(args.data_dir))
    settings = IngestSettings(max_skew=timedelta(days=args.max_skew_days), replica=args.replica)
    ingestor = Ingestor(
        db, compound, host=args.broker.host, port=args.broker.port, broker_kind=broker_kind(args), settings=settings
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await ingestor.run(stop)

    print(f"hub: {compound.id} on {args.broker} ({broker_kind(args)}), database {db.url}", file=sys.stderr, flush=True)
    try:
        asyncio.run(main())
    finally:
        db.dispose()
    return 0
