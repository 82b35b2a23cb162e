"""The ``compound`` command: one entry point, one subcommand per module in ``compound.cli.commands``.

This is the one place that wires simulators, edge and hub together into processes.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from compound import recording
from compound.cli.options import BrokerURL, add_broker_option, add_config_option, add_data_dir_option, parse_broker
from compound.cli.plugins import ENV, PluginError, load_plugins, plugin_names

__all__ = ["BrokerURL", "add_broker_option", "add_config_option", "add_data_dir_option", "main", "parse_broker"]

COMMAND_MODULES = (
    "compound.cli.commands.check_config",
    "compound.cli.commands.sim",
    "compound.cli.commands.edge",
    "compound.cli.commands.hub",
    "compound.cli.commands.db",
    "compound.cli.commands.keys",
    "compound.cli.commands.token",
    "compound.cli.commands.up",
    "compound.cli.commands.record",
    "compound.cli.commands.replay",
    "compound.cli.commands.dataset",
    "compound.cli.commands.model",
)
"""Modules that each define ``register(subparsers)``; a missing module is simply not offered."""


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="compound",
        description="Safety monitor for residential compounds: simulators, edge agents, hub and console.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-v info, -vv debug)")
    parser.add_argument(
        "-p",
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first: it registers camera types, detectors, drivers or camera sources "
        f"(repeatable; also ${ENV}, comma-separated; passed on to the processes `compound up` starts)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``compound`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    recording.register()  # the `recording` driver and `recording:` camera source, before any plugin
    try:
        load_plugins(plugin_names(args.plugin))
    except PluginError as exc:
        print(f"compound: {exc}", file=sys.stderr)
        sys.exit(2)
    code = args.func(args)
    sys.exit(int(code or 0))
