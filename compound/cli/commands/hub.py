"""``compound hub``: hub ingest (validate, store, alarms, routing) plus the JSON API and live console, one process."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sqlite3
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from compound.cli.options import (
    add_broker_fallback_option,
    add_broker_option,
    add_config_option,
    add_data_dir_option,
    add_mqtt_auth_options,
    broker_fallbacks,
    mqtt_credentials,
    mqtt_tls,
)
from compound.clock import Clock, ScaledClock, WallClock
from compound.config import ConfigError, load_config
from compound.identity import HUB

if TYPE_CHECKING:
    from compound.config import Compound
    from hub.timeseries import TimeSeries, TimeseriesSettings

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
    add_broker_fallback_option(parser)
    add_config_option(parser)
    add_data_dir_option(parser)
    parser.add_argument(
        "--db", default=None, help="database URL (default: sqlite:///<data-dir>/hub.db; postgresql+psycopg://...)"
    )
    parser.add_argument(
        "--max-skew",
        type=duration,
        default=None,
        metavar="SPAN",
        help="restamp at receipt the messages whose device timestamp is further than this ahead of the hub clock "
        "(the device's own stamp is kept in the raw message): seconds, or with a unit (90s, 5m, 2h, 400d; default "
        "5m: device clocks drift). Widen it for simulated devices on a timeline of their own; compound up passes 400d",
    )
    parser.add_argument(
        "--replica",
        default="1",
        help="replica name, part of the stable MQTT client id (default 1): give each replica its own, and a "
        "restarted replica the same one (its broker session holds what it had not acknowledged)",
    )
    parser.add_argument(
        "--role",
        choices=("all", "ingest", "api"),
        default="all",
        help="what this replica does (default all): ingest = the MQTT stream only (and /healthz), api = the "
        "API and console only (no broker); several replicas on one PostgreSQL --db share the work",
    )
    parser.add_argument(
        "--share-group",
        type=share_group,
        default="hub",
        metavar="NAME",
        help="MQTT shared-subscription group ($share/NAME/...): the broker hands each message to one ingesting "
        "replica of the group (default hub; on brokers that deliver shared subscriptions)",
    )
    parser.add_argument(
        "--edge-offline-after",
        type=duration,
        default=None,
        metavar="SPAN",
        help="raise edge_offline for an edge heard from before and silent this long on the hub clock (default: 3 "
        "heartbeat intervals, 90s); a last will's offline status raises at once",
    )
    parser.add_argument(
        "--edge-gap-after",
        type=duration,
        default=None,
        metavar="SPAN",
        help="raise edge_offline for an edge whose seq gap is still unfilled this long after it was seen (default 5m)",
    )
    parser.add_argument(
        "--no-edge-supervision",
        action="store_true",
        help="raise no edge_offline alarms (compound up --duration passes it: its edges stop on purpose)",
    )
    add_mqtt_auth_options(parser)
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
    add_timeseries_options(parser)
    parser.set_defaults(func=run)


def add_timeseries_options(parser: argparse.ArgumentParser) -> None:
    """``--influx-url/-org/-bucket``; without a URL the hub keeps 7 days of series under the data dir only."""
    group = parser.add_argument_group(
        "time series",
        "Every reading, event and edge health figure is kept 7 days in <data-dir>/timeseries.sqlite3 (the console's "
        "charts) and, with --influx-url, also written to an InfluxDB v2 write API (InfluxDB 2/3, VictoriaMetrics), "
        "spooled on disk while it is down. The token is read only from $COMPOUND_INFLUX_TOKEN.",
    )
    group.add_argument(
        "--influx-url",
        default=None,
        metavar="URL",
        help="http(s)://host:port (default $COMPOUND_INFLUX_URL; none: embedded only)",
    )
    group.add_argument("--influx-org", default=None, help="organisation (default $COMPOUND_INFLUX_ORG, else compound)")
    group.add_argument("--influx-bucket", default=None, help="bucket (default $COMPOUND_INFLUX_BUCKET, else compound)")


def timeseries_settings(args: argparse.Namespace) -> TimeseriesSettings:
    """Settings from ``$COMPOUND_INFLUX_*``, overridden by the options given; raises ``ValueError`` when bad."""
    from hub.timeseries import TimeseriesSettings

    return TimeseriesSettings.from_env(
        influx_url=getattr(args, "influx_url", None),
        influx_org=getattr(args, "influx_org", None),
        influx_bucket=getattr(args, "influx_bucket", None),
    )


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def share_group(text: str) -> str:
    """An MQTT shared-subscription group name (argparse type): non-empty, no ``/``, ``+``, ``#``."""
    if not text or any(ch in text for ch in "/+#") or len(text) > 64:
        raise argparse.ArgumentTypeError(f"not a shared-subscription group name: {text!r} (1-64 chars, no / + #)")
    return text


def duration(text: str) -> timedelta:
    """``300``, ``90s``, ``5m``, ``2h`` or ``400d`` as a positive ``timedelta`` (argparse type)."""
    raw = text.strip().lower()
    scale = _UNITS.get(raw[-1:])
    number = raw[:-1] if scale is not None else raw
    try:
        value = float(number) * (scale or 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (seconds, or 90s, 5m, 2h, 400d)") from None
    if not 0 < value < 1e10:
        raise argparse.ArgumentTypeError(f"duration must be positive: {text!r}")
    return timedelta(seconds=value)


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
        "--drill",
        metavar="REASON",
        default=None,
        help="run as a drill (演练): from start, for 7 days or until stopped, every alarm is pushed marked as a "
        "drill and kept out of the response metrics",
    )
    parser.add_argument(
        "--public-url",
        default=None,
        help="the hub's address as people's phones reach it, for links in pushed messages "
        "(default: the address the console is bound to)",
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
    """Load the config, open the time series and the database, serve the API and console with ingest in the app's
    lifespan; the time series are closed (unsent batches stay spooled) once the server has stopped."""
    from hub.timeseries import open_timeseries

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
    try:
        ts_settings = timeseries_settings(args)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        print(f"bad time-series settings: {exc}", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print(f"--port must be 0..65535, got {args.port}", file=sys.stderr)
        return 2
    try:
        series = open_timeseries(ts_settings, args.data_dir, compound=compound, clock=clock)
    except (OSError, sqlite3.Error) as exc:
        print(f"cannot open the time series in {args.data_dir}: {exc}", file=sys.stderr)
        return 1
    try:
        return _serve(args, compound, clock, series)
    finally:
        series.close()


def _serve(args: argparse.Namespace, compound: Compound, clock: Clock, series: TimeSeries) -> int:
    """Open the database, build ingest and the app, and serve until stopped."""
    from hub.db import Database, default_url
    from hub.ingest import Ingestor, IngestSettings
    from hub.notify.records import start_drill
    from hub.notify.settings import channel_infos, load_channel_configs
    from hub.web import hub_app, make_server

    try:
        fallbacks = broker_fallbacks(args)
    except ValueError as exc:
        print(f"compound hub: {exc}", file=sys.stderr)
        return 2
    try:
        username, password = mqtt_credentials(args, HUB)
        tls = mqtt_tls(args, HUB)
    except (OSError, ValueError) as exc:
        print(f"cannot read the hub's MQTT password or TLS files: {exc}", file=sys.stderr)
        return 1
    try:
        channels = load_channel_configs(compound)
    except ConfigError as exc:
        print(f"{args.config}: {exc}", file=sys.stderr)
        return 1
    db = Database(args.db or default_url(args.data_dir))
    if args.drill:
        db.upgrade()
        start_drill(db, args.drill, clock.now())
    settings = IngestSettings(
        replica=args.replica, shared_group=args.share_group, username=username, password=password, tls=tls
    )
    if args.max_skew is not None:
        settings = replace(settings, max_skew=args.max_skew)
    if args.edge_offline_after is not None:
        settings = replace(settings, edge_offline_after_s=args.edge_offline_after.total_seconds())
    if args.edge_gap_after is not None:
        settings = replace(settings, edge_gap_after_s=args.edge_gap_after.total_seconds())
    if args.no_edge_supervision:
        settings = replace(settings, supervise_edges=False)
    ingestor = Ingestor(
        db,
        compound,
        host=args.broker.host,
        port=args.broker.port,
        fallbacks=fallbacks,
        broker_kind=broker_kind(args),
        settings=settings,
        clock=clock,
        series=series.sink,
        channels=channel_infos(channels),
    )
    try:
        app = hub_app(
            ingestor,
            data_dir=args.data_dir,
            session_ttl_s=args.session_hours * 3600,
            token_max_age_s=args.token_max_age_days * 86400,
            series=series,
            channels=channels,
            public_url=args.public_url,
            role=args.role,
        )
    except (OSError, ValueError) as exc:
        print(f"cannot start the console: {exc}", file=sys.stderr)
        db.dispose()
        return 1

    def started(url: str) -> None:
        if args.role == "ingest":  # no console on an ingest replica: only its health
            print(f"health: {url}/healthz (ingest replica: no API or console)", flush=True)
            return
        print(f"console: {url}/  (API docs {url}/docs; sign in: compound token PERSON_ID --url)", flush=True)

    # One process, one event loop: uvicorn serves the app and the app's lifespan runs ingest.
    server = make_server(app, host=args.host, port=args.port, on_started=started)
    where = series.influx.url if series.influx is not None else "embedded only"
    print(
        f"hub: {compound.id} on {args.broker} ({broker_kind(args)}), database {db.url}, time series {where}, "
        f"role {args.role}",
        file=sys.stderr,
        flush=True,
    )
    try:
        asyncio.run(server.serve())
    finally:
        db.dispose()
    return 0 if server.started else 1
