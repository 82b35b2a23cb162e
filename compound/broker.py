"""The embedded MQTT broker (amqtt) used by ``compound up`` when no ``--broker`` is given.

Run standalone with ``python -m compound.broker --bind 127.0.0.1:1883``. The plugin set is explicit
(amqtt's default set warns) and the bind address is always set (amqtt defaults to 0.0.0.0:1883).
amqtt 0.12 acknowledges ``$share/`` subscriptions but delivers nothing on them: clients of this
broker must subscribe plainly (see ``supports_shared_subscriptions``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from typing import Any

__all__ = ["broker_config", "run_broker", "supports_shared_subscriptions"]

log = logging.getLogger(__name__)


def broker_config(host: str, port: int) -> dict[str, Any]:
    """amqtt configuration: one TCP listener on ``host:port``, anonymous clients, no $SYS noise."""
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 0}},
        "timeout_disconnect_delay": 2,
        "plugins": {
            "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
        },
    }


def supports_shared_subscriptions(broker_kind: str) -> bool:
    """Whether a broker delivers ``$share/group/...`` subscriptions (amqtt 0.12 does not)."""
    return broker_kind != "amqtt"


async def run_broker(host: str, port: int, stop: asyncio.Event | None = None) -> None:
    """Run the embedded broker until ``stop`` is set (or forever)."""
    from amqtt.broker import Broker

    broker = Broker(broker_config(host, port))
    await broker.start()
    log.info("embedded amqtt broker listening on %s:%d", host, port)
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        with contextlib.suppress(Exception):
            await broker.shutdown()


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m compound.broker``."""
    parser = argparse.ArgumentParser(description="Run the embedded amqtt MQTT broker.")
    parser.add_argument("--bind", default="127.0.0.1:1883", help="host:port to listen on (default 127.0.0.1:1883)")
    args = parser.parse_args(argv)
    host, _, port = args.bind.rpartition(":")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_broker(host or "127.0.0.1", int(port), stop)

    asyncio.run(_main())


if __name__ == "__main__":
    main()
