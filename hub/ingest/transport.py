"""``Ingestor``: the MQTT side of ingest. paho's network thread feeds a queue; one worker thread takes batches
from it, has the pipeline store them, and only then acks them (manual ack after commit), in arrival order.

Why paho-mqtt directly and not aiomqtt: "a hub killed with SIGKILL loses nothing" needs a QoS 1 message to
be PUBACKed only after it is committed. aiomqtt 2.5 builds its paho client without ``manual_ack`` and exposes
no ``ack()``; paho 2.x has both as public API. paho reconnects by itself; a message received on a connection
that has since dropped is not acked: the broker re-sends it on the resumed persistent session (stable client
id, ``clean_session=False``) and dedup by event id absorbs the copy.

With ``fallbacks`` (the other nodes of a clustered broker) a hub whose node refused or failed a connection
attempt, and that has been disconnected for ``failover_after_s``, moves to the next node with a new paho client
(same client id: the cluster replicates its persistent session); what it received on the dead node and had not
acked is never acked and comes back from the session.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from compound import wire
from compound.broker import supports_shared_subscriptions
from compound.clock import Clock
from compound.config import Compound
from compound.tls import MqttTLS
from hub.alarms.changes import AlarmChanges
from hub.db import Database
from hub.db.cluster import Leadership
from hub.ingest.backlog import Backlog
from hub.ingest.inbound import Inbound
from hub.ingest.pipeline import MessagePipeline
from hub.ingest.sequence import SweepSchedule, sweep_ranges
from hub.ingest.settings import IngestSettings
from hub.notify.escalation import ChannelInfo
from hub.resend import ResendRequester
from hub.timeseries.base import SeriesSink

__all__ = ["SUPERVISION_JOB", "SWEEP_JOB", "Ingestor", "probe_shared_subscriptions"]

log = logging.getLogger(__name__)

SWEEP_JOB = "resend-sweep"
"""The cluster-wide job of asking edges for open gaps and unseen tails (``Leadership``)."""
SUPERVISION_JOB = "edge-supervision"
"""The cluster-wide job of judging edges offline or back."""


class Ingestor:
    """Subscribes to the compound's topics and feeds the pipeline; acks each message after its commit."""

    def __init__(
        self,
        db: Database,
        compound: Compound,
        *,
        host: str = "127.0.0.1",
        port: int = 1883,
        broker_kind: str = "mosquitto",
        changes: AlarmChanges | None = None,
        series: SeriesSink | None = None,
        channels: Mapping[str, ChannelInfo] | None = None,
        settings: IngestSettings | None = None,
        clock: Clock | None = None,
        fallbacks: Sequence[tuple[str, int]] = (),
        failover_after_s: float = 3.0,
    ) -> None:
        if failover_after_s <= 0:
            raise ValueError(f"failover_after_s must be positive, got {failover_after_s}")
        self.db = db
        self.compound = compound
        self.host = host
        self.port = port
        self.endpoints: tuple[tuple[str, int], ...] = ((host, port), *fallbacks)
        """The broker's nodes in the order tried: ``host:port`` first, then ``fallbacks``."""
        self.failover_after_s = failover_after_s
        self.failovers = 0
        """Moves to another node so far."""
        self._endpoint = 0
        self._down_since = time.monotonic()
        self._attempt_failed = threading.Event()
        self.broker_kind = broker_kind
        self.settings = settings or IngestSettings()
        self.pipeline = MessagePipeline(
            db, compound, changes=changes, series=series, channels=channels, settings=self.settings, clock=clock
        )
        self.changes = self.pipeline.changes
        self.clock = self.pipeline.clock
        """The hub's clock; give the same one to ``AlarmService`` so people's actions share the timeline."""
        self.client_id = f"compound-hub-{compound.id}-{self.settings.replica}"[:64]
        base = wire.subscription(compound.prefix, compound.id)
        self._base_filter = base
        self.shared = supports_shared_subscriptions(broker_kind)
        """Whether to subscribe through ``$share/``; with ``broker_kind='auto'`` a probe decides in ``run``."""
        self.subscribed = threading.Event()
        """Set once the broker has acknowledged the subscription (tests and readiness wait on it)."""
        self.connections = 0
        """Successful connections so far (1 + reconnects)."""
        self._inbox: queue.Queue[Inbound] = queue.Queue()
        self.backlog = Backlog()
        """Messages received and not yet stored: the notification dispatcher yields to them (``hub.ingest.backlog``)."""
        self._generation = 0
        self._gen_lock = threading.Lock()
        self._stopping = threading.Event()
        self._client: mqtt.Client | None = None
        self.resends = ResendRequester(
            compound,
            self._publish_command,
            requested_by=f"hub:{self.settings.replica}",
            min_interval_s=self.settings.resend_min_interval_s,
            clock=self.clock.monotonic,
        )
        """Asks edges to resend what this hub misses (rate-limited per edge)."""
        self.replicated = db.dialect == "postgresql"
        """Replicas may share the stream (only on PostgreSQL): a seq gap is then often another replica's batch
        still in flight, so gaps are asked for by the leading replica's sweep once they have stood
        ``resend_settle_s``, not by whichever replica saw them at once."""
        self.pipeline.on_resend = None if self.replicated else self.resends.request
        self._sweeps = SweepSchedule(
            self.clock, settle_s=self.settings.resend_settle_s, every_s=self.settings.resend_sweep_s
        )
        self._next_supervision = self.clock.monotonic()
        self.leadership = Leadership(db.engine)
        """Cluster-wide rounds (resend sweeps, edge supervision) run on the one replica that leads each."""
        self.subscribed_at: datetime | None = None
        """Hub-clock time of the current subscription: edges' silence is counted from it if later."""

    @property
    def topic_filter(self) -> str:
        """The subscription: shared (``$share/<group>/...``) where the broker delivers those, plain otherwise."""
        return f"$share/{self.settings.shared_group}/{self._base_filter}" if self.shared else self._base_filter

    # ------------------------------------------------------------------ MQTT callbacks (paho thread)

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, reason: ReasonCode, _p: Any) -> None:
        if reason.is_failure:
            log.warning("broker refused connection: %s", reason)
            self._attempt_failed.set()
            return
        with self._gen_lock:
            self._generation += 1
        self.connections += 1
        log.info(
            "connected to %s:%d (session present: %s); subscribing %s",
            self.host,
            self.port,
            flags.session_present,
            self.topic_filter,
        )
        client.subscribe(self.topic_filter, qos=1)

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, reasons: list[ReasonCode], _p: Any) -> None:
        if any(r.is_failure for r in reasons):
            log.error("broker refused subscription %s: %s", self.topic_filter, reasons)
            return
        log.info("hub ingest subscribed to %s", self.topic_filter)
        self.subscribed_at = self.clock.now()
        self.subscribed.set()
        # Nothing can be missed any more: ask for what was (once the broker's own queue had time to arrive).
        self._sweeps.subscribed()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        with self._gen_lock:
            self._generation += 1  # acks for messages of the dropped connection must not be sent
        self.subscribed.clear()
        self._down_since = time.monotonic()
        if not self._stopping.is_set():
            log.warning("disconnected from broker (%s); reconnecting", reason)

    def _on_connect_fail(self, _c: mqtt.Client, _u: Any) -> None:
        self._attempt_failed.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:  # brokers should refuse these; if one arrives, dead-letter it as bad_topic
            topic = message._topic.decode("utf-8", errors="replace")
        self.backlog.arrived()
        self._inbox.put(
            Inbound(
                topic=topic,
                payload=bytes(message.payload),
                received_at=self.clock.now(),
                mid=message.mid,
                qos=message.qos,
                generation=self._generation,
            )
        )

    # ------------------------------------------------------------------ worker thread

    def _work(self) -> None:
        while not self._stopping.is_set():
            self._maybe_sweep()
            self._maybe_supervise()
            try:
                first = self._inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            batch = [first]
            while len(batch) < self.settings.batch_size:
                try:
                    batch.append(self._inbox.get_nowait())
                except queue.Empty:
                    break
            try:
                self._process_until_stored(batch)
            finally:
                self.backlog.done(len(batch))
            self._ack(batch)

    def _publish_command(self, topic: str, payload: bytes) -> bool:
        """Publish a command to an edge (QoS 1); only while subscribed, so that what it triggers is not missed."""
        client = self._client
        if client is None or not self.subscribed.is_set():
            return False
        return client.publish(topic, payload, qos=1).rc == mqtt.MQTT_ERR_SUCCESS

    def _maybe_sweep(self) -> None:
        """After a subscribe, and every ``resend_sweep_s``: ask edges for open gaps and unseen tails."""
        if not self.subscribed.is_set():
            return
        open_ended = self._sweeps.due()
        if open_ended is None:
            return
        try:
            if self.leadership.leads(SWEEP_JOB):  # once across replicas: edges are not asked N times
                self.sweep(open_ended=open_ended)
        except Exception:  # the database may be down; ingest goes on and the next sweep tries again
            log.exception("resend sweep failed")

    def _maybe_supervise(self) -> None:
        """Every ``supervise_every_s`` while subscribed (a hub cut off from the broker hears nobody and must not
        call the edges offline): one supervision round (``MessagePipeline.supervise``)."""
        if not self.subscribed.is_set() or self.clock.monotonic() < self._next_supervision:
            return
        self._next_supervision = self.clock.monotonic() + self.settings.supervise_every_s
        try:
            # One replica judges edges (raises and clears edge_offline); every replica writes what it heard.
            self.pipeline.supervise(heard_since=self.subscribed_at, judge=self.leadership.leads(SUPERVISION_JOB))
        except Exception:  # the database may be down; ingest goes on and the next round tries again
            log.exception("supervision round failed")

    def sweep(self, *, open_ended: bool) -> int:
        """Ask for every open seq gap and every tail a heartbeat showed; ``open_ended``: also for anything
        after the last stored seq of every configured edge. Returns the number of requests sent."""
        now = self.clock.now()
        cutoff = now - self.settings.resend_gap_max_age
        settled = now - timedelta(seconds=self.settings.resend_settle_s) if self.replicated else None
        with self.db.session() as session:
            ranges = sweep_ranges(
                session, self.compound.edges(), cutoff, open_ended=open_ended, detected_before=settled
            )
        return sum(self.resends.request(edge, from_seq, to_seq) for edge, from_seq, to_seq in ranges)

    def _process_until_stored(self, batch: list[Inbound]) -> None:
        delay = 0.5
        while True:
            try:
                self.pipeline.process(batch)
                return
            except Exception:
                # Only reached when even a dead letter cannot be written: the database is unreachable.
                # Do not ack; wait and retry, the broker keeps the messages meanwhile.
                log.exception("database unavailable; retrying a batch of %d in %.1fs", len(batch), delay)
                if self._stopping.wait(delay):
                    return
                delay = min(delay * 2, 10.0)

    def _ack(self, batch: list[Inbound]) -> None:
        client = self._client
        if client is None:
            return
        with self._gen_lock:
            for item in batch:
                if item.qos > 0 and item.generation == self._generation:
                    client.ack(item.mid, item.qos)

    # ------------------------------------------------------------------ lifecycle

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        if self.settings.username is not None:
            client.username_pw_set(self.settings.username, self.settings.password)
        if self.settings.tls is not None:
            self.settings.tls.apply(client)
        return client

    async def run(self, stop: asyncio.Event) -> None:
        """Ingest until ``stop`` is set; reconnects by itself; returns after a clean disconnect."""
        await asyncio.to_thread(self.db.upgrade)
        self._stopping.clear()
        if self.broker_kind == "auto":
            found = await self._probe_until_reachable(stop)
            if found is None:
                return
            self.shared = found
        worker = threading.Thread(target=self._work, name="hub-ingest", daemon=True)
        worker.start()
        client = self._client = self._make_client()
        client.connect_async(self.host, self.port, keepalive=self.settings.keepalive)
        client.loop_start()
        log.info(
            "hub ingest for %s: broker %s:%d (%s), client id %s",
            self.compound.id,
            self.host,
            self.port,
            self.broker_kind,
            self.client_id,
        )
        try:
            while not stop.is_set():
                if len(self.endpoints) == 1:
                    await stop.wait()
                    break
                try:  # wake at least this often to notice a dead node
                    await asyncio.wait_for(stop.wait(), self.failover_after_s / 3)
                except TimeoutError:
                    await self._maybe_fail_over()
        finally:
            # Finish (store and ack) the batch in hand; anything still queued is unacked and comes back.
            self._stopping.set()
            await asyncio.to_thread(worker.join, 30)
            client = self._client or client
            client.disconnect()
            await asyncio.to_thread(client.loop_stop)
            self._client = None
            await asyncio.to_thread(self.leadership.close)
            log.info("hub ingest stopped after %d messages", self.pipeline.processed)

    async def _maybe_fail_over(self) -> None:
        """Down for ``failover_after_s`` after a failed attempt: connect to the next node with a new client."""
        old = self._client
        if old is None or self.subscribed.is_set() or not self._attempt_failed.is_set():
            return
        if time.monotonic() - self._down_since < self.failover_after_s:
            return
        self._next_endpoint()
        await asyncio.to_thread(old.loop_stop)
        old.disconnect()  # not connected: only marks it so (its sockets close when it is collected)
        with self._gen_lock:
            self._generation += 1  # what the old client received is not acked: the session re-delivers it
        self.failovers += 1
        self._down_since = time.monotonic()
        self._attempt_failed.clear()
        client = self._client = self._make_client()
        client.connect_async(self.host, self.port, keepalive=self.settings.keepalive)
        client.loop_start()

    def _next_endpoint(self) -> None:
        self._endpoint = (self._endpoint + 1) % len(self.endpoints)
        host, port = self.endpoints[self._endpoint]
        log.warning("broker %s:%d unreachable; trying %s:%d", self.host, self.port, host, port)
        self.host, self.port = host, port

    async def _probe_until_reachable(self, stop: asyncio.Event) -> bool | None:
        """Probe shared-subscription support, retrying while the broker is unreachable; None if stopped first."""
        delay = 1.0
        while not stop.is_set():
            found = await asyncio.to_thread(
                probe_shared_subscriptions,
                self.host,
                self.port,
                self.compound.prefix,
                username=self.settings.username,
                password=self.settings.password,
                tls=self.settings.tls,
            )
            if found is not None:
                log.info(
                    "broker %s:%d %s shared subscriptions",
                    self.host,
                    self.port,
                    "delivers" if found else "does not deliver",
                )
                return found
            if len(self.endpoints) > 1:
                self._next_endpoint()
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except TimeoutError:
                delay = min(delay * 2, 10.0)
        return None


def probe_shared_subscriptions(
    host: str,
    port: int,
    prefix: str = wire.DEFAULT_PREFIX,
    timeout: float = 3.0,
    *,
    username: str | None = None,
    password: str | None = None,
    tls: MqttTLS | None = None,
) -> bool | None:
    """Whether the broker delivers ``$share/`` subscriptions (amqtt 0.12 acknowledges them, then delivers
    nothing): subscribe shared to a private probe topic and publish to it. ``None``: broker unreachable."""
    token = uuid.uuid4().hex[:12]
    probe_topic = f"{prefix}/probe/{token}"
    delivered = threading.Event()
    subscribed = threading.Event()
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"hub-probe-{token}")
    if username is not None:  # the hub's identity may use <prefix>/probe/# (compound.identity)
        client.username_pw_set(username, password)
    if tls is not None:
        tls.apply(client)
    client.on_subscribe = lambda *_args: subscribed.set()
    client.on_message = lambda _c, _u, msg: delivered.set() if msg.topic == probe_topic else None
    try:
        client.connect(host, port, keepalive=10)
    except OSError as exc:
        log.warning("broker %s:%d unreachable for the shared-subscription probe: %s", host, port, exc)
        return None
    client.loop_start()
    try:
        client.subscribe(f"$share/probe-{token}/{probe_topic}", qos=1)
        if not subscribed.wait(timeout):
            return None
        client.publish(probe_topic, b"probe", qos=1)
        return delivered.wait(timeout)
    finally:
        client.disconnect()
        client.loop_stop()
