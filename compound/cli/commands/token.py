"""``compound token PERSON_ID``: print a signed bearer token for a person in the config."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from compound.cli.options import add_config_option, add_data_dir_option
from compound.config import ConfigError, load_config


def register(sub: Any) -> None:
    """Add the ``token`` subcommand."""
    from hub.web.auth import DEFAULT_TOKEN_TTL_S, SECRET_ENV

    parser = sub.add_parser(
        "token",
        help="print a signed bearer token for a person (for scripts and the console login)",
        description="Print a bearer token for PERSON_ID, signed with the hub's secret key "
        f"(${SECRET_ENV} or <data-dir>/secret.key, generated if missing). Use it as "
        "'Authorization: Bearer TOKEN' or paste it on the console's login page.",
    )
    parser.add_argument("person", metavar="PERSON_ID", help="a person id from people.yaml, e.g. p-han-mei")
    parser.add_argument(
        "--ttl",
        type=float,
        default=DEFAULT_TOKEN_TTL_S,
        help=f"seconds the token stays valid (default {DEFAULT_TOKEN_TTL_S:.0f}, 30 days)",
    )
    parser.add_argument("--url", action="store_true", help="print a click-to-login console link instead")
    parser.add_argument("--console", default="http://127.0.0.1:8080", help="console base URL for --url")
    add_config_option(parser)
    add_data_dir_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the config and the key, refuse unknown people, print the token."""
    from hub.web.auth import TokenSigner, UnknownPerson, load_secret_key, login_url

    try:
        compound = load_config(args.config)
    except ConfigError as exc:
        print(f"{args.config}: {exc}", file=sys.stderr)
        return 1
    if args.ttl <= 0:
        print("--ttl must be a positive number of seconds", file=sys.stderr)
        return 2
    try:
        signer = TokenSigner(load_secret_key(args.data_dir))
        token = signer.issue_for(compound, args.person, args.ttl)
    except UnknownPerson as exc:
        known = ", ".join(sorted(compound.people)[:8])
        print(f"error: {exc} (known people include: {known}, ...)", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"error: cannot load the secret key: {exc}", file=sys.stderr)
        return 1
    print(login_url(args.console, token) if args.url else token)
    return 0
