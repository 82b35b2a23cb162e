"""``compound model promote PATH | rollback | status``: which detector version is live (``compound.modelstore``).

The model store lives in ``<data-dir>/models``; promoting copies the candidate in as the next version and
points ``live.json`` at it atomically (the previous version stays, for ``rollback``). Edges load the live
version when they (re)start. Each change is written to the hub's audit log (``model_promote`` /
``model_rollback``) when the hub database is there.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from compound.cli.options import add_data_dir_option


def register(sub: Any) -> None:
    """Add the ``model`` subcommand."""
    parser = sub.add_parser(
        "model",
        help="promote a fine-tuned detector to live, roll back, show the live version",
        description="The live detector version in <data-dir>/models. Edges load it on their next start.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    promote = actions.add_parser("promote", help="make PATH (an ONNX detector) the live model")
    promote.add_argument("path", type=Path, help="the candidate .onnx (e.g. from python -m models.train --out)")
    rollback = actions.add_parser("rollback", help="make the previously promoted version live again")
    status = actions.add_parser("status", help="show the live version and every promoted one")
    for action in (promote, rollback, status):
        add_data_dir_option(action)
        action.add_argument("--url", default=None, help="hub database URL for the audit line (default: <data-dir>)")
        action.set_defaults(func=run)


def _audit(args: argparse.Namespace, action: str, target: str, detail: str | None = None) -> None:
    """Record the change in the hub's audit log when there is a hub database."""
    from hub.db import Database, default_url
    from hub.web.accounts import AccountStore

    if args.url is None and not (args.data_dir / "hub.db").exists():
        return
    db = Database(str(args.url or default_url(args.data_dir)))
    try:
        db.upgrade()
        AccountStore(db).record(f"cli:{getpass.getuser()}", action, target=target, client="cli", detail=detail)
    finally:
        db.dispose()


def run(args: argparse.Namespace) -> int:
    """Run one action; a model that cannot go live is a clear error (exit 2)."""
    from compound.modelstore import ModelStore, ModelStoreError
    from hub.web.accounts import AuditAction

    store = ModelStore.of_data_dir(args.data_dir)
    by = f"cli:{getpass.getuser()}"
    try:
        if args.action == "promote":
            version = store.promote(args.path, by=by)
            _audit(args, AuditAction.MODEL_PROMOTE, f"model:v{version.version}", f"{args.path} {version.sha256[:12]}")
            print(f"promoted {args.path} as version {version.version} ({store.root / version.file}); "
                  "edges load it when they restart")  # fmt: skip
        elif args.action == "rollback":
            previous = store.rollback(by=by)
            target = f"model:v{previous.version}" if previous else "model:vision.yaml"
            _audit(args, AuditAction.MODEL_ROLLBACK, target)
            print(f"live: {f'version {previous.version} ({previous.file})' if previous else 'the vision.yaml model'}; "
                  "edges load it when they restart")  # fmt: skip
        else:
            live = store.live()
            print(f"live: {f'version {live.version} ({store.root / live.file})' if live else 'the vision.yaml model'}")
            for v in store.versions():
                print(f"  v{v.version}  {v.file}  {v.sha256[:12]}  from {v.source}  {v.promoted_at} by {v.by}")
    except ModelStoreError as exc:
        print(f"compound model: {exc}", file=sys.stderr)
        return 2
    return 0
