"""Command-line options shared by several ``compound`` subcommands: broker URL, config and data directories."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from compound.tls import MqttTLS

__all__ = [
    "BrokerURL",
    "add_broker_fallback_option",
    "add_broker_option",
    "add_config_option",
    "add_data_dir_option",
    "add_mqtt_auth_options",
    "broker_fallbacks",
    "mqtt_credentials",
    "mqtt_tls",
    "parse_broker",
    "positive_number",
]


class BrokerURL:
    """``mqtt://host:port`` parsed; ``mqtts://host:port`` (``tls``): the broker speaks TLS."""

    def __init__(self, host: str, port: int, tls: bool = False) -> None:
        self.host = host
        self.port = port
        self.tls = tls

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"BrokerURL({self.host!r}, {self.port}{', tls=True' if self.tls else ''})"


def parse_broker(value: str) -> BrokerURL:
    """Parse ``mqtt://host[:port]`` or ``mqtts://host[:port]`` (TLS, port 8883 by default; argparse type)."""
    parts = urlsplit(value if "://" in value else f"mqtt://{value}")
    if parts.scheme not in ("mqtt", "tcp", "mqtts", "ssl") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"broker must look like mqtt://host:port or mqtts://host:port, got {value!r}")
    tls = parts.scheme in ("mqtts", "ssl")
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad port in broker URL {value!r}") from None
    return BrokerURL(parts.hostname, port, tls)


def add_broker_option(parser: argparse.ArgumentParser, *, embedded_default: bool = False) -> None:
    """``--broker mqtt://host:port``; with ``embedded_default`` no value means start the embedded broker."""
    helptext = "MQTT broker URL, e.g. mqtt://127.0.0.1:1883" + (
        " (default: start the embedded amqtt broker)" if embedded_default else " (default: mqtt://127.0.0.1:1883)"
    )
    default = None if embedded_default else os.environ.get("COMPOUND_BROKER", "mqtt://127.0.0.1:1883")
    parser.add_argument(
        "--broker", type=parse_broker, default=parse_broker(default) if default else None, help=helptext
    )
    parser.add_argument(
        "--broker-kind",
        choices=["auto", "mosquitto", "amqtt", "emqx", "nats", "rabbitmq", "other"],
        default="auto",
        help="broker software, decides shared subscriptions (auto: amqtt when embedded, else mosquitto-like)",
    )


def add_broker_fallback_option(parser: argparse.ArgumentParser) -> None:
    """``--broker-fallback URL`` (repeatable): the other nodes of a clustered broker, tried in turn."""
    parser.add_argument(
        "--broker-fallback",
        type=parse_broker,
        action="append",
        default=[],
        metavar="URL",
        help="another node of a clustered broker, tried in turn when the current one is unreachable (repeatable; "
        "same scheme as --broker)",
    )


def broker_fallbacks(args: argparse.Namespace) -> list[tuple[str, int]]:
    """The ``--broker-fallback`` nodes as (host, port); ``ValueError`` for one whose scheme differs from
    ``--broker``'s (one client has one TLS setting)."""
    fallbacks: list[BrokerURL] = args.broker_fallback
    mixed = [str(b) for b in fallbacks if b.tls != args.broker.tls]
    if mixed:
        raise ValueError(f"--broker-fallback {', '.join(mixed)} must use the scheme of --broker {args.broker}")
    return [(b.host, b.port) for b in fallbacks]


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """``--config DIR``: the compound config directory."""
    from compound.config import DEFAULT_CONFIG_DIR

    parser.add_argument(
        "--config",
        type=Path,
        default=Path(os.environ.get("COMPOUND_CONFIG", DEFAULT_CONFIG_DIR)),
        help="config directory (default: $COMPOUND_CONFIG or the repo's configs/)",
    )


def add_data_dir_option(parser: argparse.ArgumentParser) -> None:
    """``--data-dir DIR``: where outboxes, databases and keys live."""
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("COMPOUND_DATA_DIR", ".compound")),
        help="state directory for outboxes, databases, keys (default: $COMPOUND_DATA_DIR or ./.compound)",
    )


def add_mqtt_auth_options(parser: argparse.ArgumentParser) -> None:
    """``--mqtt-username`` and ``--mqtt-password-file``: this process's identity on the broker."""
    parser.add_argument(
        "--mqtt-username",
        default=os.environ.get("COMPOUND_MQTT_USERNAME"),
        help="MQTT username (default $COMPOUND_MQTT_USERNAME, else this process's own identity when "
        "`compound keys` has provisioned it under the data dir: hub, edge-<id>; else anonymous)",
    )
    parser.add_argument(
        "--mqtt-password-file",
        type=Path,
        default=Path(p) if (p := os.environ.get("COMPOUND_MQTT_PASSWORD_FILE")) else None,
        metavar="FILE",
        help="file holding the MQTT password (default $COMPOUND_MQTT_PASSWORD_FILE, else $COMPOUND_MQTT_PASSWORD, "
        "else <data-dir>/keys/<username>.secret)",
    )
    parser.add_argument(
        "--mqtt-tls-dir",
        type=Path,
        default=Path(p) if (p := os.environ.get("COMPOUND_MQTT_TLS_DIR")) else None,
        metavar="DIR",
        help="connect over TLS with the CA and this identity's client certificate in DIR (`compound keys --tls`: "
        "ca.pem, <username>.pem/.key; default $COMPOUND_MQTT_TLS_DIR; with an mqtts:// broker and no DIR: "
        "<data-dir>/keys/tls)",
    )


def mqtt_credentials(args: argparse.Namespace, identity: str) -> tuple[str | None, str | None]:
    """(username, password) for this process; ``identity`` (``hub``, ``edge-b1``) is the default username when its
    secret is under the data dir. (None, None): anonymous. ``OSError``/``ValueError`` for an unreadable secret."""
    from compound.identity import read_secret, secret_path

    username: str | None = args.mqtt_username
    if args.mqtt_password_file is not None:
        return username or identity, read_secret(args.mqtt_password_file)
    if username is not None and (password := os.environ.get("COMPOUND_MQTT_PASSWORD")) is not None:
        return username, password
    path = secret_path(args.data_dir, username or identity)
    if path.exists():
        return username or identity, read_secret(path)
    return username, None


def mqtt_tls(args: argparse.Namespace, identity: str) -> MqttTLS | None:
    """The TLS files of this process (``--mqtt-tls-dir``, or ``<data-dir>/keys/tls`` for an ``mqtts://`` broker),
    for its username or ``identity``; None: plain TCP. ``OSError`` when a file is missing."""
    from compound.tls import MqttTLS, TLSFiles

    directory: Path | None = getattr(args, "mqtt_tls_dir", None)
    broker = getattr(args, "broker", None)
    if directory is None and broker is not None and broker.tls:
        directory = TLSFiles.under(args.data_dir).directory
    if directory is None:
        return None
    return MqttTLS.from_dir(directory, getattr(args, "mqtt_username", None) or identity)


def positive_number(value: str) -> float:
    """argparse type: a finite number above 0 (speeds, durations, ticks)."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0 < number < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {value!r}")
    return number
