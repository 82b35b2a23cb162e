"""``compound keys``: provision the broker identities (one per edge, one for the hub) and the broker's auth files."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from compound.cli.options import add_config_option, add_data_dir_option
from compound.config import ConfigError, load_config
from compound.identity import Provisioned, edge_username, provision


def register(sub: Any) -> None:
    """Add the ``keys`` subcommand."""
    parser = sub.add_parser(
        "keys",
        help="provision MQTT credentials (hub, one per edge) and the broker's password and ACL files",
        description="Create a random secret for the hub and for every edge in the config under <data-dir>/keys/ "
        "(mode 0600; existing ones are kept) and write the broker side under <data-dir>/broker/: hashed password "
        "files and topic ACLs for Mosquitto (mosquitto.passwd, mosquitto.acl, mosquitto.conf lines) and for the "
        "embedded amqtt broker (amqtt.passwd, amqtt-acl.json). An edge may publish only under its own topics and "
        "read only its own cmd/; the hub reads everything and alone publishes cmd/. `compound up` runs this itself.",
    )
    parser.add_argument(
        "--rotate",
        action="append",
        default=[],
        metavar="NAME",
        help="replace this identity's secret: an edge id (b1), edge-b1, hub, or 'all' (repeatable); then reload "
        "the broker (Mosquitto: SIGHUP; embedded: restart compound up) and restart that client",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="also write a private CA, a server certificate and one client certificate per identity (CN = hub, "
        "edge-<id>) under <data-dir>/keys/tls/, and mosquitto-tls.conf lines for a TLS listener; existing ones "
        "are kept, --rotate reissues the named identities' certificates (and 'server')",
    )
    parser.add_argument(
        "--tls-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name or address clients use to reach the broker, for the server certificate (repeatable; "
        "localhost and 127.0.0.1 are always in it)",
    )
    add_config_option(parser)
    add_data_dir_option(parser)
    parser.set_defaults(func=run)


def provision_for(args: argparse.Namespace, rotate: list[str] | None = None) -> Provisioned:
    """Provision the identities of the config in ``args.config`` under ``args.data_dir``."""
    compound = load_config(args.config)
    edges = compound.edges()
    wanted = list(rotate or ())
    if "all" in wanted:
        wanted = ["hub", *edges]
    return provision(args.data_dir, compound=compound.id, prefix=compound.prefix, edges=edges, rotate=wanted)


def run(args: argparse.Namespace) -> int:
    """Provision, then say what changed and where the files are."""
    try:
        done = provision_for(args, [r for r in args.rotate if r != "server"])  # server: a TLS certificate only
    except ConfigError as exc:
        print(f"{args.config}: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"compound keys: {exc}", file=sys.stderr)
        return 2
    files = done.broker
    tls = None
    if args.tls:
        from compound.tls import provision_tls

        rotate = set(done.usernames) | {"server"} if "all" in args.rotate else set(args.rotate)
        rotate |= {edge_username(r) for r in args.rotate if r not in done.usernames and r not in ("all", "server")}
        try:
            tls = provision_tls(
                args.data_dir,
                compound=load_config(args.config).id,
                identities=done.usernames,
                hosts=args.tls_host,
                rotate=rotate,
            )
        except (OSError, ValueError) as exc:
            print(f"compound keys --tls: {exc}", file=sys.stderr)
            return 2
    print(f"identities  {', '.join(done.usernames)}")
    print(f"created     {', '.join(done.created) or '-'}")
    print(f"rotated     {', '.join(done.rotated) or '-'}")
    print(f"secrets     {done.keys_dir}/<identity>.secret (0600)")
    print(f"mosquitto   {files.mosquitto_conf} (include its lines; reload with SIGHUP after a rotation)")
    print(f"amqtt       python -m compound.broker --auth {files.directory}")
    if tls is not None:
        issued = ", ".join(tls.issued) or "-"
        print(f"tls         {tls.files.directory} (ca, server, one per identity; issued now: {issued})")
        print(f"mosquitto   {tls.files.mosquitto_conf} (under a TLS listener, e.g. listener 8883)")
        print("clients     --broker mqtts://host:8883 (certificates from <data-dir>/keys/tls) or --mqtt-tls-dir DIR")
    return 0
