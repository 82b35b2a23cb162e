"""Device identity on the broker (``compound keys``): on Mosquitto and on the embedded amqtt, with the files
``compound keys`` writes, anonymous clients are refused and each identity may publish and read only its own
topics. MQTT 3.1.1 has no refusal for a PUBLISH (the broker acks and drops it; Mosquitto 2.0 then also closes the
connection, amqtt keeps it), so "dropped" is shown by a marker published after the broker acknowledged the forged
message: once the marker has arrived, the forged message would have arrived before it. Likewise Mosquitto grants a
SUBSCRIBE outside the ACL and delivers nothing on it; amqtt refuses it (0x80): the tests check delivery."""

from __future__ import annotations

import signal
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from compound.config import Compound
from compound.identity import HUB, edge_username, mosquitto_hash, provision, read_secret, secret_path
from compound.recording import Recording, RecordingError
from tests.servers import AmqttServer, BrokerServer, MosquittoServer
from tests.support import wait_for

pytestmark = pytest.mark.broker

BASE = "compound/v1/sunrise-garden"


@dataclass
class Identity:
    """A paho client of one identity (or anonymous) that records what it receives."""

    port: int
    client_id: str
    username: str | None = None
    password: str | None = None
    will_topic: str | None = None
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    connack: threading.Event = field(default_factory=threading.Event)
    refused: bool | None = None
    suback: list[int] = field(default_factory=list)
    subacked: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv311)
        if self.username is not None:
            self.client.username_pw_set(self.username, self.password)
        if self.will_topic is not None:
            self.client.will_set(self.will_topic, b'{"state": "offline"}', qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object) -> None:
        self.refused = bool(getattr(reason, "is_failure", True))
        self.connack.set()

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int, codes: list, props: object) -> None:
        self.suback = [c.value for c in codes]
        self.subacked.set()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def connect(self) -> bool:
        """Connect; True when the broker accepted (CONNACK 0), False when it refused or closed the connection."""
        self.client.reconnect_delay_set(min_delay=30, max_delay=30)  # one try: no reconnect during a test
        self.client.connect("127.0.0.1", self.port, keepalive=10)
        self.client.loop_start()
        self.connack.wait(10)
        if self.refused is False:  # paho marks itself connected just after on_connect: publish only then
            wait_for(self.client.is_connected, 10, "paho's connected state")
        return self.refused is False

    def subscribe(self, topic: str) -> int:
        """Subscribe at QoS 1; the SUBACK code (0x80: refused)."""
        self.subacked.clear()
        self.client.subscribe(topic, qos=1)
        assert self.subacked.wait(10), "no SUBACK"
        return self.suback[0]

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish at QoS 1 and wait for the broker's PUBACK (a broker acks a publish it drops, too) or, for a
        publish it refused, the end of the connection (Mosquitto)."""
        info = self.client.publish(topic, payload, qos=1)
        wait_for(lambda: info.is_published() or not self.client.is_connected(), 10, f"PUBACK for {topic}")

    def topics(self) -> list[str]:
        with self.lock:
            return [t for t, _ in self.messages]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _utf8(text: str) -> bytes:
    raw = text.encode()
    return len(raw).to_bytes(2, "big") + raw


def connect_with_will(port: int, username: str, secret: Path, will_topic: str) -> socket.socket | None:
    """A raw MQTT 3.1.1 CONNECT with a retained QoS 1 last will; the open socket when accepted, else None.
    (Raw, so that the test can drop the TCP connection without DISCONNECT, which makes the broker publish the will.)"""
    flags = 0x80 | 0x40 | 0x20 | 0x08 | 0x04 | 0x02  # username, password, will retain, will QoS 1, will, clean
    body = b"\x00\x04MQTT\x04" + bytes([flags]) + (30).to_bytes(2, "big")
    body += _utf8(f"will-{username}") + _utf8(will_topic) + _utf8('{"state": "offline"}')
    body += _utf8(username) + _utf8(read_secret(secret))
    assert len(body) < 128 * 128
    length = bytes([0x80 | (len(body) % 128), len(body) // 128]) if len(body) >= 128 else bytes([len(body)])
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"\x10" + length + body)
    try:
        connack = sock.recv(4)
    except OSError:
        connack = b""
    if len(connack) == 4 and connack[3] == 0:
        return sock
    sock.close()
    return None


Who = Callable[..., Identity]
"""``who(username, password=None, *, will=None)``: a client of that identity (its secret from the data dir)."""


@pytest.fixture(params=["mosquitto", "amqtt"])
def secure_broker(request: pytest.FixtureRequest, compound: Compound, tmp_path: Path) -> Iterator[BrokerServer]:
    """Each real broker with the files of ``compound keys`` for the sample compound (under tmp_path/data)."""
    done = provision(tmp_path / "data", compound=compound.id, prefix=compound.prefix, edges=compound.edges())
    kind = MosquittoServer if request.param == "mosquitto" else AmqttServer
    server = kind(tmp_path / request.param, auth_dir=done.broker.directory)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def who(secure_broker: BrokerServer, tmp_path: Path) -> Iterator[Who]:
    """``who(username)``: a connected client of that identity (its secret from the data dir); closed afterwards."""
    made: list[Identity] = []

    def make(username: str | None, password: str | None = None, *, will: str | None = None) -> Identity:
        if username is not None and password is None:
            password = read_secret(secret_path(tmp_path / "data", username))
        client = Identity(secure_broker.port, f"t-{username}-{len(made)}", username, password, will)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def test_anonymous_and_wrong_passwords_are_refused(who: Who) -> None:
    """Test that the broker refuses a client without credentials, with a wrong password, or with an unknown
    name, and accepts the hub and an edge with their own secrets."""
    assert not who(None).connect()
    assert not who(edge_username("b1"), "not-the-secret").connect()
    assert not who("edge-nowhere", "x").connect()
    assert who(HUB).connect()
    assert who(edge_username("b1")).connect()


def test_an_edge_cannot_publish_under_another_edges_topics(who: Who) -> None:
    """Test that b1's credential publishing an event, a status or a heartbeat under b2's topics is dropped by the
    broker (the hub never sees it), while b1's own event, published after them, arrives."""
    hub = who(HUB)
    assert hub.connect() and hub.subscribe(f"{BASE}/#") == 1
    for forged in (f"{BASE}/b2/event/b2-u1-1502-smoke", f"{BASE}/b2/status", f"{BASE}/b2/heartbeat", "elsewhere/x"):
        b1 = who(edge_username("b1"))
        assert b1.connect()
        b1.publish(forged, b'{"forged": true}')
    b1 = who(edge_username("b1"))
    assert b1.connect()
    b1.publish(f"{BASE}/b1/event/b1-u1-0101-smoke", b"marker")
    wait_for(lambda: f"{BASE}/b1/event/b1-u1-0101-smoke" in hub.topics(), 10, "b1's own event at the hub")
    assert [t for t in hub.topics() if "/b2/" in t or t.startswith("elsewhere")] == []


def test_only_the_hub_publishes_commands(who: Who) -> None:
    """Test that an edge's credential publishing to its own or another edge's cmd/ is dropped, and that the hub's
    command reaches the edge it is for."""
    b1 = who(edge_username("b1"))
    assert b1.connect() and b1.subscribe(f"{BASE}/b1/cmd/#") == 1
    b2 = who(edge_username("b2"))
    assert b2.connect()
    b2.publish(f"{BASE}/b1/cmd/resend", b"forged by b2")
    b1_forger = who(edge_username("b1"))  # another connection: Mosquitto closes one that published out of bounds
    assert b1_forger.connect()
    b1_forger.publish(f"{BASE}/b1/cmd/resend", b"forged by b1 itself")
    hub = who(HUB)
    assert hub.connect()
    hub.publish(f"{BASE}/b1/cmd/resend", b"from the hub")
    wait_for(lambda: bool(b1.messages), 10, "the hub's command at b1")
    assert b1.messages == [(f"{BASE}/b1/cmd/resend", b"from the hub")]


def test_an_edge_reads_only_its_own_commands(who: Who, secure_broker: BrokerServer) -> None:
    """Test that b1's subscriptions to b2's cmd/, to every edge's cmd/ and to everything are refused (amqtt) or
    deliver nothing (Mosquitto): b1 receives none of b2's commands, only its own."""
    b1 = who(edge_username("b1"))
    assert b1.connect()
    refused = 0x80 if isinstance(secure_broker, AmqttServer) else 1
    for foreign in (f"{BASE}/b2/cmd/#", f"{BASE}/#", f"{BASE}/+/cmd/#", "#"):
        assert b1.subscribe(foreign) == refused, foreign
    assert b1.subscribe(f"{BASE}/b1/cmd/#") == 1
    hub = who(HUB)
    assert hub.connect()
    hub.publish(f"{BASE}/b2/cmd/resend", b"for b2")
    hub.publish(f"{BASE}/b1/cmd/resend", b"marker for b1")
    wait_for(lambda: f"{BASE}/b1/cmd/resend" in b1.topics(), 10, "b1's own command")
    assert b1.topics() == [f"{BASE}/b1/cmd/resend"]


def test_a_last_will_on_another_edges_status_is_not_published(
    who: Who, secure_broker: BrokerServer, tmp_path: Path
) -> None:
    """Test that b1 cannot plant a forged 'offline' for b2 through its last will: the broker refuses the connection
    (amqtt, through compound.broker) or never publishes the will (Mosquitto checks it against the ACL)."""
    hub = who(HUB)
    assert hub.connect() and hub.subscribe(f"{BASE}/#") == 1
    secret = tmp_path / "data" / "keys"
    forged = connect_with_will(secure_broker.port, "edge-b1", (secret / "edge-b1.secret"), f"{BASE}/b2/status")
    if forged is not None:
        forged.close()  # die without DISCONNECT: the broker would now publish the will
    honest = connect_with_will(secure_broker.port, "edge-b3", (secret / "edge-b3.secret"), f"{BASE}/b3/status")
    assert honest is not None
    honest.close()
    wait_for(lambda: f"{BASE}/b3/status" in hub.topics(), 20, "b3's own will at the hub")
    assert f"{BASE}/b2/status" not in hub.topics()


def test_keys_are_private_hashed_and_rotate(compound: Compound, tmp_path: Path) -> None:
    """Test that provisioning writes 0600 secrets, hashes (not passwords) for both brokers, keeps secrets on a second
    run, and replaces only the rotated one."""
    data = tmp_path / "data"
    first = provision(data, compound=compound.id, prefix=compound.prefix, edges=compound.edges())
    assert set(first.created) == {HUB, *(edge_username(e) for e in compound.edges())}
    secrets = {u: read_secret(secret_path(data, u)) for u in first.usernames}
    files = first.broker
    for path in [*(secret_path(data, u) for u in first.usernames), files.mosquitto_passwd, files.amqtt_passwd]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for path in (files.mosquitto_passwd, files.amqtt_passwd, files.mosquitto_acl, files.amqtt_acl):
        assert not any(s in path.read_text() for s in secrets.values()), path
    again = provision(data, compound=compound.id, prefix=compound.prefix, edges=compound.edges(), rotate=["b1"])
    assert again.created == () and again.rotated == (edge_username("b1"),)
    after = {u: read_secret(secret_path(data, u)) for u in again.usernames}
    assert [u for u in after if after[u] != secrets[u]] == [edge_username("b1")]
    with pytest.raises(ValueError, match="not an identity"):
        provision(data, compound=compound.id, prefix=compound.prefix, edges=compound.edges(), rotate=["nowhere"])


def test_mosquitto_hash_is_mosquitto_passwds_format() -> None:
    """Test that the $7$ hash equals what Mosquitto's own mosquitto_passwd computes for the same salt."""
    import base64

    # mosquitto_passwd -b (Mosquitto 2.0.11) for password 's3cret':
    expected = (
        "$7$101$262LsmkWQ/VFlWxb$"
        "q9TPIzxjIIExW7URTlpInOrZ7/WtYorGDXDIstevJOhuOihZCchbQoT7xMX1kHaNaE+HKy+V1awuVHlr+fE3xQ=="
    )
    assert mosquitto_hash("s3cret", base64.b64decode("262LsmkWQ/VFlWxb")) == expected


def test_record_reads_an_authenticated_broker_as_the_hub(who: Who, secure_broker: BrokerServer, tmp_path: Path) -> None:
    """Test that ``compound record`` with the data dir of ``compound keys`` signs in as the hub (anonymous is
    refused) and records what an edge publishes."""
    out = tmp_path / "run.mcap"
    recorder = subprocess.Popen(
        [sys.executable, "-m", "compound.cli", "record", "--broker", f"mqtt://127.0.0.1:{secure_broker.port}",
         "--compound", "sunrise-garden", "--data-dir", str(tmp_path / "data"), "--duration", "60",
         "--progress", "0.2", str(out)],
        stderr=subprocess.PIPE, text=True,
    )
    try:
        b1 = who(edge_username("b1"))
        assert b1.connect()
        topic = f"{BASE}/b1/event/b1-u1-0101-smoke"

        def recorded() -> bool:
            b1.publish(topic, b"marker")  # again until the recorder's subscription is in place
            try:
                return topic in Recording(out).info().topics
            except RecordingError:  # not written yet, or mid-chunk
                return False

        wait_for(recorded, 30, "b1's event in the recording", interval=0.5)
    finally:
        recorder.send_signal(signal.SIGINT)
        _, err = recorder.communicate(timeout=30)
    assert recorder.returncode == 0, err
    assert topic in Recording(out).info().topics


def test_record_says_why_when_the_broker_refuses_it(secure_broker: BrokerServer, tmp_path: Path) -> None:
    """Test that ``compound record`` without a credential on an authenticated broker exits 1 with the reason."""
    done = subprocess.run(
        [sys.executable, "-m", "compound.cli", "record", "--broker", f"mqtt://127.0.0.1:{secure_broker.port}",
         "--data-dir", str(tmp_path / "nowhere"), "--duration", "5", str(tmp_path / "x.mcap")],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1
    assert "refused the connection" in done.stderr
