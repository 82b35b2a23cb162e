"""``compound token PERSON_ID``: print a signed bearer token or a single-use login link; ``--revoke ID`` revokes one."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from compound.cli.options import add_config_option, add_data_dir_option
from compound.config import ConfigError, load_config


def register(sub: Any) -> None:
    """Add the ``token`` subcommand."""
    from hub.web.auth import DEFAULT_LOGIN_TTL_S, DEFAULT_TOKEN_TTL_S, SECRET_ENV

    parser = sub.add_parser(
        "token",
        help="print a signed bearer token or a login link for a person; or revoke a token",
        description="Print a bearer token for PERSON_ID, signed with the hub's secret key "
        f"(${SECRET_ENV} or <data-dir>/secret.key, generated if missing). Use it as "
        "'Authorization: Bearer TOKEN' or paste it on the console's login page. With --url, print a "
        "click-to-login link instead: it works once and expires quickly. The token's id (for --revoke) "
        "is printed on stderr.",
    )
    parser.add_argument("person", metavar="PERSON_ID", nargs="?", help="a person id from people.yaml, e.g. p-han-mei")
    parser.add_argument(
        "--ttl",
        type=float,
        default=None,
        help=f"seconds the token stays valid (default {DEFAULT_TOKEN_TTL_S:.0f}, 30 days; "
        f"{DEFAULT_LOGIN_TTL_S:.0f} for a --url login link)",
    )
    parser.add_argument("--url", action="store_true", help="print a single-use click-to-login console link instead")
    parser.add_argument("--console", default="http://127.0.0.1:8080", help="console base URL for --url")
    parser.add_argument(
        "--revoke",
        metavar="ID",
        help="revoke a token id (and the sessions opened with it), or 'person:PERSON_ID' for every token of a "
        "person issued until now; the hub refuses it at once",
    )
    parser.add_argument(
        "--db", default=None, help="the hub's database URL for --revoke (default: sqlite:///<data-dir>/hub.db)"
    )
    add_config_option(parser)
    add_data_dir_option(parser)
    parser.set_defaults(func=run)


def _revoke(args: argparse.Namespace) -> int:
    from hub.db import Database, default_url
    from hub.web.accounts import AccountStore, AuditAction

    db = Database(args.db or default_url(args.data_dir))
    try:
        db.create()
        store = AccountStore(db)
        changed = store.revoke(args.revoke, "cli")
        store.record("cli", AuditAction.TOKEN_REVOKE, target=args.revoke, client="local")
    finally:
        db.dispose()
    print(f"revoked {args.revoke}" + ("" if changed else " (it already was)"))
    return 0


def run(args: argparse.Namespace) -> int:
    """Load the config and the key, refuse unknown people, print the token (or revoke one)."""
    from hub.web.auth import (
        DEFAULT_LOGIN_TTL_S,
        DEFAULT_TOKEN_TTL_S,
        TokenSigner,
        UnknownPerson,
        load_secret_key,
        login_url,
    )

    if args.revoke:
        return _revoke(args)
    if not args.person:
        print("error: give a PERSON_ID (or --revoke ID)", file=sys.stderr)
        return 2
    try:
        compound = load_config(args.config)
    except ConfigError as exc:
        print(f"{args.config}: {exc}", file=sys.stderr)
        return 1
    ttl = args.ttl if args.ttl is not None else (DEFAULT_LOGIN_TTL_S if args.url else DEFAULT_TOKEN_TTL_S)
    if ttl <= 0:
        print("--ttl must be a positive number of seconds", file=sys.stderr)
        return 2
    try:
        signer = TokenSigner(load_secret_key(args.data_dir))
        issue = signer.issue_login if args.url else signer.issue_for
        token = issue(compound, args.person, ttl)
    except UnknownPerson as exc:
        known = ", ".join(sorted(compound.people)[:8])
        print(f"error: {exc} (known people include: {known}, ...)", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"error: cannot load the secret key: {exc}", file=sys.stderr)
        return 1
    print(f"token id: {signer.claims(token).token_id} (compound token --revoke ID)", file=sys.stderr)
    print(login_url(args.console, token) if args.url else token)
    return 0
