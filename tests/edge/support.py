"""Helpers for edge integration tests: a plain paho subscriber and an edge agent subprocess."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from compound import wire
from compound.wire import Event, MessageType
from edge.outbox import Outbox
from tests.support import wait_for

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Collector:
    """A plain paho QoS 1 subscriber with a persistent session that resubscribes on every connect."""

    port: int
    topic: str
    client_id: str
    filter_prefix: tuple[str, ...] = ()
    credentials: tuple[str, str] | None = None
    """(username, password) on a broker with authentication on (``compound keys``)."""
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    subscribed: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=False, protocol=mqtt.MQTTv311
        )
        client.reconnect_delay_set(min_delay=1, max_delay=1)
        if self.credentials is not None:
            client.username_pw_set(*self.credentials)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self.client = client

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object) -> None:
        client.subscribe(self.topic, qos=1)

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int, codes: object, props: object) -> None:
        self.subscribed.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object, rc: object, props: object) -> None:
        self.subscribed.clear()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if self.filter_prefix and not msg.topic.startswith(self.filter_prefix):
            return  # amqtt also delivers retained messages of other clients' filters: keep only ours
        with self.lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def start(self, timeout: float = 15.0) -> None:
        self.client.connect_async("127.0.0.1", self.port, keepalive=5)
        self.client.loop_start()
        wait_for(self.subscribed.is_set, timeout, "the subscriber's SUBACK")

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def events(self) -> list[Event]:
        """Every event received (duplicates included), validated against the wire contract."""
        with self.lock:
            raw = list(self.messages)
        out = []
        for topic, payload in raw:
            parsed = wire.parse_topic(topic)
            if parsed.type is MessageType.EVENT:
                out.append(wire.parse(MessageType.EVENT, payload))
        return out

    def seqs(self) -> set[int]:
        return {e.seq for e in self.events()}


@dataclass
class EdgeProcess:
    """``compound edge`` in a subprocess with its log in a file."""

    args: list[str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "compound.cli", "-v", "edge", *self.args],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"edge did not finish in {timeout:g} s; log:\n{self.log()[-3000:]}") from None

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def outbox_rows(db: Path) -> list[tuple[int, str, bytes]]:
    """(lane, topic, payload) of every row in an outbox, read without disturbing its owner."""
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return [(int(r[0]), str(r[1]), bytes(r[2])) for r in conn.execute("SELECT lane, topic, payload FROM outbox")]
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def last_seq(db: Path) -> int:
    """The last event seq an outbox assigned (0 before its first), read from outside as ``compound up`` does."""
    counts = Outbox.read_counts(db)
    return counts.last_seq if counts else 0
