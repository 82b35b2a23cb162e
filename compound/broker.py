"""The embedded MQTT broker (amqtt) used by ``compound up`` when no ``--broker`` is given.

Run standalone with ``python -m compound.broker --bind 127.0.0.1:1883``. The plugin set is explicit
(amqtt's default set warns) and the bind address is always set (amqtt defaults to 0.0.0.0:1883).
amqtt 0.12 acknowledges ``$share/`` subscriptions but delivers nothing on them: clients of this
broker must subscribe plainly (see ``supports_shared_subscriptions``).

With ``--auth DIR`` (the ``broker/`` folder ``compound keys`` writes) anonymous clients are refused, passwords
are checked against ``amqtt.passwd`` (argon2) and every publish and subscribe against ``amqtt-acl.json``
(``compound.identity``); a client whose last will names a topic it may not publish is refused at CONNECT
(amqtt would otherwise publish the will unchecked: a forged ``offline`` for another edge).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.mqtt.constants import QOS_1, QOS_2
from amqtt.plugins.authentication import FileAuthPlugin
from amqtt.plugins.topic_checking import TopicAccessControlListPlugin
from amqtt.session import Session

from compound.identity import BrokerAuthFiles, read_amqtt_acl

__all__ = [
    "EmbeddedBroker",
    "IdentityAuthPlugin",
    "TopicGrantsPlugin",
    "broker_config",
    "run_broker",
    "supports_shared_subscriptions",
]

log = logging.getLogger(__name__)


class TopicGrantsPlugin(TopicAccessControlListPlugin):  # type: ignore[misc]  # amqtt is untyped here
    """amqtt's topic ACL with a config that names ``subscribe_acl`` (amqtt 0.12's own config class lacks it, and
    its ``acl`` fallback is deprecated); a user absent from a list may do nothing of that kind."""

    @dataclass
    class Config:
        publish_acl: dict[str, list[str]] = field(default_factory=dict)
        subscribe_acl: dict[str, list[str]] = field(default_factory=dict)


class IdentityAuthPlugin(FileAuthPlugin):  # type: ignore[misc]
    """amqtt's password-file check, and a last will only on a topic the user may publish to."""

    @dataclass
    class Config:
        password_file: str | Path | None = None
        publish_acl: dict[str, list[str]] = field(default_factory=dict)

    async def authenticate(self, *, session: Session) -> bool | None:
        ok: bool | None = await super().authenticate(session=session)
        session.refused = not ok  # see EmbeddedBroker._handle_client_session
        if ok and session.will_flag and session.will_topic:
            allowed = self.config.publish_acl.get(session.username or "", [])
            if not any(TopicAccessControlListPlugin.topic_ac(session.will_topic, t) for t in allowed):
                self.context.logger.info("refused %s: last will on %s", session.username, session.will_topic)
                session.refused = True
                return False
        if ok:
            # Keep the delivery the project is tested with on amqtt: before identities every session was flagged
            # anonymous (AnonymousAuthPlugin does so even for named clients), so amqtt kept no offline queue and the
            # hub's resend requests fill what a dead client missed (test_up's hub-SIGKILL run checks that).
            session.is_anonymous = True
        return ok


BROADCAST_BATCH = 1000
"""At most this many queued messages routed per turn of the event loop (then the loop runs everything else)."""


class EmbeddedBroker(Broker):  # type: ignore[misc]
    """amqtt's broker, with topic checks only where the ACL has something to say (publish, subscribe), and a
    broadcast loop that keeps up with its readers (``_broadcast_loop``)."""

    async def _broadcast_loop(self) -> None:
        """Route every queued message in one turn of the event loop.

        amqtt 0.12's own loop routes one message per pass, and each pass costs about three turns of the event loop
        (a task for the message, ``asyncio.wait`` on it, its wake-up), while a client's reader takes in every
        PUBLISH its socket holds in one turn. Five edges publishing together outran it by thousands of messages,
        and a hub's ``cmd/`` request waited behind all of them (bench/broker_backlog.py: 5 700 queued, commands
        1.5-3 s late at 2 000 msg/s; README, "Broker identity"). Here one pass takes the whole queue (up to
        ``BROADCAST_BATCH``) and routes each message without yielding: the subscriptions are read before anything
        is awaited (amqtt awaits inside its loop over them, and a SUBSCRIBE meanwhile broke that loop), each
        delivery is its own task as in amqtt, so they stay in order per client."""
        running = self._tasks_queue
        try:
            while True:
                self._reap(running)
                get = asyncio.ensure_future(self._broadcast_queue.get())
                shutdown = self._broadcast_shutdown_waiter
                done, _ = await asyncio.wait([get, shutdown], return_when=asyncio.FIRST_COMPLETED)
                if shutdown in done:
                    get.cancel()
                    await asyncio.gather(get, return_exceptions=True)
                    break
                batch = [get.result()]
                while len(batch) < BROADCAST_BATCH:
                    try:
                        batch.append(self._broadcast_queue.get_nowait())
                    except asyncio.QueueEmpty:
                        break
                for broadcast in batch:
                    await self._route(broadcast, running)
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.wait(list(running), timeout=5)

    def _reap(self, running: deque[asyncio.Task[Any]]) -> None:
        """Forget the finished deliveries at the head of ``running`` (a failed one is logged, as amqtt does)."""
        while running and running[0].done():
            task = running.popleft()
            if not task.cancelled() and task.exception() is not None:
                log.info("delivery failed: %s", task.exception())

    async def _route(self, broadcast: dict[str, Any], running: deque[asyncio.Task[Any]]) -> None:
        """Hand one message to every matching subscription: a delivery task per connected session, amqtt's
        offline queue for a persistent non-anonymous one (none here: see ``IdentityAuthPlugin``)."""
        topic = broadcast["topic"]
        targets = [
            (session, broadcast.get("qos", qos))
            for a_filter, subscriptions in self._subscriptions.items()
            if self._matches(topic, a_filter)
            for session, qos in subscriptions
        ]
        for session, qos in targets:
            if session.transitions.state != "connected":
                if not session.clean_session and qos in (QOS_1, QOS_2) and not session.is_anonymous:
                    await self._retain_broadcast_message(broadcast, qos, session)
                continue
            handler = self._get_handler(session)
            if handler is not None:
                running.append(asyncio.ensure_future(handler.mqtt_publish(topic, broadcast["data"], qos, retain=False)))

    async def _topic_filtering(self, session: Session, topic: str, action: Action) -> bool:
        # No receive ACL here (a subscription is checked when made). And amqtt 0.12 awaits this inside its
        # broadcast loop over the subscriptions dict: a plugin call yields, a concurrent SUBSCRIBE changes the
        # dict, the loop dies ("dictionary changed size during iteration") and the message is lost.
        if action == Action.RECEIVE:
            return True
        if action == Action.PUBLISH:
            # Checked here without yielding: amqtt runs each plugin as a task and gathers them, two turns of the
            # event loop per PUBLISH, which is what let an edge's inbound queue grow under load.
            grants = self._publish_grants()
            if grants is not None:
                allowed_topics = grants.get(session.username or "anonymous", [])
                return any(TopicAccessControlListPlugin.topic_ac(topic, t) for t in allowed_topics)
        allowed: bool = await super()._topic_filtering(session, topic, action)
        return allowed

    def _publish_grants(self) -> dict[str, list[str]] | None:
        """The publish ACL of the ``TopicGrantsPlugin`` in use, or None without one (anonymous broker)."""
        for plugin in self.plugins_manager.plugins:
            if isinstance(plugin, TopicGrantsPlugin):
                grants: dict[str, list[str]] = plugin.config.publish_acl
                return grants
        return None

    async def _handle_message_delivery(self, client_session: Session, handler: Any, wait_deliver: Any) -> bool:
        """amqtt hands the broadcast one PUBLISH per pass of a client's loop (four or five turns of the event loop),
        but PUBACKs each as it reads it: five edges publishing together built thousands of acknowledged messages
        in their sessions' queues, dropped when the client disconnected. Take every PUBLISH already read."""
        ok: bool = await super()._handle_message_delivery(client_session, handler, wait_deliver)
        return ok and await self._deliver_read(client_session, handler)

    async def _deliver_read(self, session: Session, handler: Any) -> bool:
        """Route the PUBLISHes ``session`` has sent and the broker has acknowledged but not yet routed. Nothing
        here yields (the publish check above is synchronous; queue puts are unbounded), so no other reader of the
        queue can take one meanwhile."""
        queue = session.delivered_message_queue
        loop = asyncio.get_running_loop()
        for _ in range(BROADCAST_BATCH):
            try:
                message = queue.get_nowait()
            except asyncio.QueueEmpty:
                return True
            ready = loop.create_future()
            ready.set_result(message)
            if not await super()._handle_message_delivery(session, handler, ready):
                return False
        return True

    async def _handle_disconnect(self, client_session: Session, handler: Any, disconnect_waiter: Any) -> None:
        # What the client sent before it left was acknowledged: route it before its session ends (amqtt drops it).
        while not client_session.delivered_message_queue.empty():
            if not await self._deliver_read(client_session, handler):
                break
        await super()._handle_disconnect(client_session, handler, disconnect_waiter)

    async def _handle_client_session(self, *args: Any) -> None:
        await super()._handle_client_session(*args)
        session = args[2]
        if getattr(session, "refused", False):
            # amqtt 0.12 registers a client as connected before it checks the credentials and never unregisters one
            # it refused: that session would stay "connected" for good (and be taken over by the next of its name).
            session.refused = False
            with contextlib.suppress(Exception):
                session.transitions.disconnect()
            if self._sessions.get(session.client_id, (None,))[0] is session:
                del self._sessions[session.client_id]


def broker_config(host: str, port: int, auth_dir: Path | None = None) -> dict[str, Any]:
    """amqtt configuration: one TCP listener on ``host:port``, no $SYS noise; anonymous clients unless
    ``auth_dir`` holds the files of ``compound keys`` (then identities and topic grants are enforced)."""
    plugins: dict[str, Any] = {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}
    if auth_dir is not None:
        files = BrokerAuthFiles(Path(auth_dir))
        acl = read_amqtt_acl(files.amqtt_acl)
        plugins = {
            f"{__name__}.IdentityAuthPlugin": {
                "password_file": str(files.amqtt_passwd),
                "publish_acl": acl["publish-acl"],
            },
            f"{__name__}.TopicGrantsPlugin": {
                "publish_acl": acl["publish-acl"],
                "subscribe_acl": acl["subscribe-acl"],
            },
        }
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 0}},
        "timeout_disconnect_delay": 2,
        "plugins": plugins,
    }


NO_SHARED_SUBSCRIPTIONS = frozenset({"amqtt", "nats", "rabbitmq"})
"""Brokers that deliver nothing on ``$share/`` (amqtt 0.12; NATS 2.9's and RabbitMQ 3.10's MQTT, measured by
``bench/broker_cluster.py``): hubs on them subscribe plainly, each receives the whole stream."""


def supports_shared_subscriptions(broker_kind: str) -> bool:
    """Whether a broker delivers ``$share/group/...`` subscriptions (amqtt 0.12, NATS 2.9, RabbitMQ 3.10 do not)."""
    return broker_kind not in NO_SHARED_SUBSCRIPTIONS


async def run_broker(host: str, port: int, stop: asyncio.Event | None = None, auth_dir: Path | None = None) -> None:
    """Run the embedded broker until ``stop`` is set (or forever); ``auth_dir``: see ``broker_config``."""
    broker = EmbeddedBroker(broker_config(host, port, auth_dir))
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
    parser.add_argument(
        "--auth",
        type=Path,
        metavar="DIR",
        help="refuse anonymous clients; identities and topic grants from DIR (<data-dir>/broker, `compound keys`)",
    )
    args = parser.parse_args(argv)
    host, _, port = args.bind.rpartition(":")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_broker(host or "127.0.0.1", int(port), stop, args.auth)

    asyncio.run(_main())


if __name__ == "__main__":
    main()
