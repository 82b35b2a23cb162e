"""MQTT publishing from the outbox: a bounded in-flight window, PUBACK -> delete, retained status and last will.

paho-mqtt runs its network loop in its own thread. The agent's asyncio loop reads the outbox (a few windows
ahead), deletes acknowledged rows (a window at a time) and sends what was stored; PUBACKs refill the window from
paho's thread, a quarter window at a time, from the rows read ahead. The agent stores events on the same loop and a
put holds it for its fsync: with every refill on the loop the window drained meanwhile, and a loop wake-up per
PUBACK batch cost as much again (``bench/edge_publish.py``). paho's thread never queries the outbox's database.
paho keeps the unacknowledged QoS 1 messages of the window and sends them
again (DUP) after a reconnect; a fresh process replays the outbox from its first row instead.
Command topics (``cmd/resend``) are subscribed at QoS 1 on every connect; what arrives is handed to
``on_command`` in the pump (agent loop), before the window is refilled.

With ``fallbacks`` (other nodes of a clustered broker) a publisher that has been disconnected for
``failover_after_s``, and whose node refused or failed a connection attempt meanwhile (a node still
answering slowly keeps it), moves to the next node in turn with a new paho client (same client id: the
persistent session the cluster replicates) and publishes again every row still in the outbox (what was in
flight on the dead node included; the hub absorbs copies by event id). paho alone only retries one host.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from compound.tls import MqttTLS
from edge.outbox import Entry, Lane, Outbox

__all__ = ["LastWill", "Publisher"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LastWill:
    """The retained status topic with its online and offline payloads."""

    topic: str
    online: Callable[[], bytes]
    offline: Callable[[], bytes]


class Publisher:
    """Moves outbox rows to the broker at QoS 1 with at most ``window`` unacknowledged at once."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        host: str,
        port: int,
        client_id: str,
        status: LastWill,
        window: int = 64,
        keepalive: int = 15,
        reconnect_max_s: int = 8,
        commands: Sequence[str] = (),
        on_command: Callable[[str, bytes], object] | None = None,
        username: str | None = None,
        password: str | None = None,
        tls: MqttTLS | None = None,
        fallbacks: Sequence[tuple[str, int]] = (),
        failover_after_s: float = 3.0,
    ) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        if failover_after_s <= 0:
            raise ValueError(f"failover_after_s must be positive, got {failover_after_s}")
        self.outbox = outbox
        self.host, self.port = host, port
        self.endpoints: tuple[tuple[str, int], ...] = ((host, port), *fallbacks)
        """The broker's nodes in the order tried: ``host:port`` first, then ``fallbacks``."""
        self.failover_after_s = failover_after_s
        self.failovers = 0
        """Moves to another node so far."""
        self._endpoint = 0
        self._down_since = time.monotonic()
        self._attempt_failed = threading.Event()
        """A connection attempt to the current node failed (refused, unreachable, or refused at CONNACK)."""
        self.window = window
        self.status = status
        self.keepalive = keepalive
        self.client_id = client_id
        self.reconnect_max_s = reconnect_max_s
        self._username, self._password, self._tls = username, password, tls
        self._client = self._make_client()
        self.commands = tuple(commands)
        self.on_command = on_command
        self._received: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._acked: list[int] = []
        self._inflight: dict[int, int] = {}  # paho mid -> outbox row id
        self._cursor = dict.fromkeys(Lane, 0)
        """The last row id read into ``_ready``, per lane."""
        self._ready: dict[Lane, deque[Entry]] = {lane: deque() for lane in Lane}
        """Rows read ahead, not yet handed to paho (``_fetch``): what paho's thread sends on PUBACKs, and one outbox
        read per few windows instead of one per pump."""
        self._seen = dict.fromkeys(Lane, -1)
        """``Outbox.stored`` when a read came back short: while it is unchanged there is nothing new to read."""
        self._done: list[int] = []
        """Acknowledged row ids not yet deleted: deleted a window at a time, or as soon as the window is not full."""
        self._send_lock = threading.Lock()
        """Held while acks are matched to rows and rows handed to paho (in outbox order). paho's thread only tries
        it: paho holds its message lock around ``on_publish``, and ``publish`` takes that lock."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._poked = False
        """A wake-up from paho's thread is on its way to the loop (``_poke``)."""
        self._refilling = False
        """``run`` is running: PUBACKs refill the window from paho's thread."""
        self.connected = threading.Event()
        self._stopping = False
        self.connects = 0
        self.published = 0
        self.acked = 0

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=False, protocol=mqtt.MQTTv311
        )
        client.max_inflight_messages_set(self.window + 8)  # room for status and heartbeats beside the window
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(min_delay=1, max_delay=self.reconnect_max_s)
        client.will_set(self.status.topic, self.status.offline(), qos=1, retain=True)
        if self._username is not None:  # the edge's broker identity (compound keys); its ACL admits only its topics
            client.username_pw_set(self._username, self._password)
        if self._tls is not None:  # the broker's TLS listener: its CA, this edge's client certificate (CN edge-<id>)
            self._tls.apply(client)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_connect_fail = self._on_connect_fail
        return client

    # ---- paho callbacks (network thread)
    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.warning("broker %s:%d refused the connection: %s", self.host, self.port, reason)
            self._attempt_failed.set()
            return
        self.connects += 1
        self.connected.set()
        client.publish(self.status.topic, self.status.online(), qos=1, retain=True)
        for command in self.commands:  # every connect: amqtt keeps no subscriptions across its restart
            client.subscribe(command, qos=1)
        log.info(
            "connected to %s:%d (connection %d), %d message(s) in the outbox",
            self.host,
            self.port,
            self.connects,
            self.outbox.depth(),
        )
        self._poke()

    def _on_connect_fail(self, client: mqtt.Client, userdata: object) -> None:
        self._attempt_failed.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if self.connected.is_set() and not self._stopping:
            log.warning("disconnected from %s:%d (%s); outbox keeps every message", self.host, self.port, reason)
        if self.connected.is_set():
            self._down_since = time.monotonic()
        self.connected.clear()
        self._poke()

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._lock:
            self._acked.append(mid)
            acked = len(self._acked)
        if not self._refilling:
            self._poke()
            return
        # Refill here, from the rows read ahead, a quarter window at a time: no loop wake-up per PUBACK batch, and
        # the window stays full while a put holds the agent's loop (its fsync). The loop is woken to read ahead, to
        # delete a window of acknowledged rows, or when the window is not full (rows stored since, or idle).
        # paho's thread never reads the outbox (a put holds its lock) and only tries ``_send_lock`` (see there).
        if len(self._inflight) - acked > self.window - self.window // 4 and acked < self.window:
            return  # most of the window still in flight: wait for more PUBACKs (a disconnect wakes the loop)
        if (self._ready[Lane.EVENT] or self._ready[Lane.READING]) and self._send_lock.acquire(blocking=False):
            try:
                self._send(read=False)
            except Exception:  # never into paho's loop: the loop's pump sends them
                log.exception("publisher: refilling the window from paho's thread failed")
            finally:
                self._send_lock.release()
            if (
                len(self._inflight) >= self.window
                and len(self._done) < self.window
                and len(self._ready[Lane.EVENT]) + len(self._ready[Lane.READING]) >= 2 * self.window
            ):
                return
        self._poke()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        if len(self._received) >= 1000:  # a flood of commands must not grow memory: drop, the hub asks again
            log.warning("command queue full; dropping a message on %.120s", message._topic)
            return
        with self._lock:
            self._received.append((message._topic.decode("utf-8", errors="replace"), bytes(message.payload)))
        self._poke()

    def _poke(self) -> None:
        # One wake-up in flight at a time: a PUBACK that finds one pending is taken by that pump (``run`` clears
        # the mark before it pumps), so a burst of acks costs one loop wake-up, not one each.
        if self._poked:
            return
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            self._poked = True
            loop.call_soon_threadsafe(wake.set)

    # ---- lifecycle (agent loop)
    def start(self) -> None:
        """Connect in the background (retrying with backoff until the broker answers)."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._poked = False
        self._client.connect_async(self.host, self.port, keepalive=self.keepalive)
        self._client.loop_start()

    def poke(self) -> None:
        """Tell the pump that new messages were stored."""
        if self._wake is not None:
            self._wake.set()

    async def run(self) -> None:
        """Pump until cancelled: refill the window whenever acks arrive or messages are stored."""
        assert self._wake is not None, "start() first"
        self._refilling = True
        try:
            while True:
                if len(self.endpoints) > 1:
                    with contextlib.suppress(TimeoutError):  # wake at least this often to notice a dead node
                        await asyncio.wait_for(self._wake.wait(), timeout=self.failover_after_s / 3)
                    await self._maybe_fail_over()
                else:
                    await self._wake.wait()
                self._wake.clear()
                self._poked = False
                self.pump()
        finally:
            self._refilling = False

    async def _maybe_fail_over(self) -> None:
        """Down for ``failover_after_s``: stop paho's retries of this node and connect to the next one."""
        if self.connected.is_set() or self._stopping or not self._attempt_failed.is_set():
            return
        if time.monotonic() - self._down_since < self.failover_after_s:
            return
        self._endpoint = (self._endpoint + 1) % len(self.endpoints)
        host, port = self.endpoints[self._endpoint]
        log.warning(
            "broker %s:%d unreachable for %.0f s; trying %s:%d", self.host, self.port, self.failover_after_s, host, port
        )
        old = self._client
        await asyncio.to_thread(old.loop_stop)
        if self._stopping:
            return
        old.disconnect()  # not connected: only marks it so (its sockets close when it is collected)
        # A new paho client (paho's loop_start on a stopped client leaks its wake-up socket pair): what the old one
        # had in flight is forgotten and sent again from the outbox, whose rows stay until acknowledged.
        with self._send_lock, self._lock:
            self._acked = []  # message ids of the old client
            self._inflight.clear()
            self._cursor = dict.fromkeys(Lane, 0)
            self._ready = {lane: deque() for lane in Lane}
            self._seen = dict.fromkeys(Lane, -1)
        self.host, self.port = host, port
        self.failovers += 1
        self._down_since = time.monotonic()
        self._attempt_failed.clear()
        self.connected.clear()
        self._client = self._make_client()
        self._client.connect_async(host, port, keepalive=self.keepalive)
        self._client.loop_start()

    def pump(self) -> int:
        """Delete acknowledged rows and hand new ones to paho; return how many were handed over."""
        with self._lock:
            received, self._received = self._received, []
        for topic, payload in received:
            if self.on_command is None:
                continue
            try:
                self.on_command(topic, payload)
            except Exception:  # a command must never stop the pump
                log.exception("command on %.120s failed", topic)
        with self._send_lock:
            sent = self._send(read=True)
            # Deletes a window at a time, or as soon as the window is not full (nothing more to send now): a delete
            # transaction per pump cost more than the publishing (bench/edge_publish.py).
            done = self._done
            if not done or (len(done) < self.window and len(self._inflight) >= self.window):
                return sent
            self._done = []
        self.outbox.ack(done)
        self.acked += len(done)
        return sent

    def _send(self, *, read: bool) -> int:
        """Match acks to rows, then fill the window (events first); return how many rows went to paho.

        The caller holds ``_send_lock``: a PUBACK that comes while another thread is in ``publish`` waits in
        ``_acked`` until its row is in ``_inflight``. ``read``: read the outbox for more rows (the loop's pump),
        and keep a few windows read ahead; without, send only rows already read (paho's thread).
        """
        with self._lock:
            mids, self._acked = self._acked, []
        inflight, done = self._inflight, self._done
        for mid in mids:
            row = inflight.pop(mid, None)
            if row is not None:
                done.append(row)
        sent = 0
        for lane in Lane:  # events first: readings only fill what the events leave of the window
            if not read and lane is Lane.READING and self.outbox.stored(Lane.EVENT) != self._seen[Lane.EVENT]:
                break  # events stored and not read yet: readings wait for the loop to read them
            room = self.window - len(inflight)
            ready = self._ready[lane]
            while room > 0 and (ready or (read and self._fetch(lane))):
                entry = ready[0]
                info = self._client.publish(entry.topic, entry.payload, qos=entry.qos, retain=entry.retain)
                if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                    log.warning(
                        "paho refused row %d (%s); it stays in the outbox", entry.id, mqtt.error_string(info.rc)
                    )
                    break
                ready.popleft()
                inflight[info.mid] = entry.id
                sent += 1
                room -= 1
            if read and len(ready) < 2 * self.window:
                self._fetch(lane)
        self.published += sent
        return sent

    def _fetch(self, lane: Lane) -> bool:
        """Read the next rows of ``lane`` into ``_ready`` (up to four windows); False when none were read."""
        limit = 4 * self.window - len(self._ready[lane])
        stored = self.outbox.stored(lane)
        if limit <= 0 or stored == self._seen[lane]:
            return False
        rows = self.outbox.pending(lane, after=self._cursor[lane], limit=limit)
        self._seen[lane] = stored if len(rows) < limit else -1  # a full read may have left rows behind
        if not rows:
            return False
        self._ready[lane].extend(rows)
        self._cursor[lane] = rows[-1].id
        return True

    @property
    def inflight(self) -> int:
        """Messages handed to the broker and not yet acknowledged."""
        return len(self._inflight)

    async def flush(self, timeout: float) -> bool:
        """Pump until the outbox is empty or ``timeout`` real seconds pass; True when empty."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.outbox.depth() > 0 and loop.time() < deadline:
            self.pump()
            await asyncio.sleep(0.02)
        self.pump()
        return self.outbox.depth() == 0

    def publish_now(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish outside the outbox (heartbeats): only while connected, never stored."""
        if self.connected.is_set():
            self._client.publish(topic, payload, qos=1, retain=retain)

    async def stop(self, timeout: float = 3.0) -> None:
        """Publish the retained offline status (a clean disconnect sends no will), then disconnect."""
        self._stopping = True
        if self.connected.is_set():
            info = self._client.publish(self.status.topic, self.status.offline(), qos=1, retain=True)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while not info.is_published() and self.connected.is_set() and loop.time() < deadline:
                await asyncio.sleep(0.02)
        self.pump()
        self._client.disconnect()
        self._client.loop_stop()
        self._loop = None
