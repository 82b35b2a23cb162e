"""TLS on a real Mosquitto (``compound keys --tls``): a listener that wants a client certificate from the generated
CA and takes its CN as the username, so the topic ACL of ``compound keys`` applies per certificate. An edge with its
own certificate publishes and the hub receives (paho clients, then ``compound up --broker mqtts://...``); a client
without a certificate, with one from another CA, or speaking plain MQTT to the TLS port, is refused."""

from __future__ import annotations

import gc
import json
import ssl
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from compound.cli.options import mqtt_tls, parse_broker
from compound.config import Compound
from compound.identity import HUB, BrokerAuthFiles, edge_username, provision
from compound.tls import MqttTLS, TLSFiles, provision_tls
from tests.edge.support import ROOT
from tests.servers import MosquittoServer
from tests.support import wait_for, wait_port

pytestmark = [pytest.mark.broker, pytest.mark.slow]

BASE = "compound/v1/sunrise-garden"


@pytest.fixture
def tls_mosquitto(compound: Compound, tmp_path: Path) -> Iterator[tuple[MosquittoServer, Path]]:
    """Mosquitto with the identities of ``compound keys`` and a TLS listener from ``compound keys --tls``."""
    data = tmp_path / "data"
    edges = compound.edges()
    done = provision(data, compound=compound.id, prefix=compound.prefix, edges=edges)
    provision_tls(data, compound=compound.id, identities=done.usernames)
    server = MosquittoServer(
        tmp_path / "mosquitto", auth_dir=BrokerAuthFiles.under(data).directory, tls_dir=TLSFiles.under(data).directory
    )
    server.start()
    assert server.tls_port is not None
    wait_port(server.tls_port, timeout=10)
    try:
        yield server, data
    finally:
        server.stop()


class Client:
    """A paho client over TLS (or not) that records what it receives and whether it got in."""

    def __init__(self, port: int, client_id: str, tls: MqttTLS | None) -> None:
        self.client_id = client_id
        self.messages: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.accepted = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
        if tls is not None:
            tls.apply(self.client)
        self.client.on_connect = lambda _c, _u, _f, reason, _p: None if reason.is_failure else self.accepted.set()
        self.client.on_message = self._on_message
        self.port = port

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def connect(self, timeout: float = 5.0) -> bool:
        """Whether the broker took this client (CONNACK accepted) within ``timeout``."""
        try:
            self.client.connect("127.0.0.1", self.port, keepalive=10)
        except (OSError, ssl.SSLError):  # the handshake failed; paho leaves its socket to the collector
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ResourceWarning)
                gc.collect()
            return False
        self.client.loop_start()
        return self.accepted.wait(timeout)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()

    def topics(self) -> list[str]:
        with self.lock:
            return [t for t, _ in self.messages]


def test_tls_listener_takes_only_certificates_of_its_ca(
    tls_mosquitto: tuple[MosquittoServer, Path], compound: Compound, tmp_path: Path
) -> None:
    """Test that over TLS an edge with its own certificate (no password) publishes under its topics and the hub (its
    certificate) receives; the CN is the username, so b1's certificate cannot publish under b2; a client without a
    certificate, one with a certificate of another CA, and a plain MQTT client on the TLS port are refused."""
    server, data = tls_mosquitto
    port = server.tls_port
    assert port is not None
    tls_dir = TLSFiles.under(data).directory
    hub = Client(port, "it-tls-hub", MqttTLS.from_dir(tls_dir, HUB))
    edge = Client(port, "it-tls-b1", MqttTLS.from_dir(tls_dir, edge_username("b1")))

    def hub_sees(topic: str) -> bool:
        """The hub publishes ``topic`` (a command: its grant) and has it back: what came before it has arrived."""
        hub.client.publish(topic, b"marker", qos=1)
        return topic in hub.topics()

    try:
        assert hub.connect() and edge.connect()
        hub.client.subscribe(f"{BASE}/#", qos=1)
        wait_for(lambda: hub_sees(f"{BASE}/b1/cmd/probe"), 10, "the hub's subscription")
        edge.client.publish(f"{BASE}/b1/event/b1-u1-101-smoke", b"{}", qos=1).wait_for_publish(5)
        wait_for(lambda: f"{BASE}/b1/event/b1-u1-101-smoke" in hub.topics(), 10, "b1's event at the hub")
        # Not b1's topic: Mosquitto acknowledges and drops it (then closes b1's connection).
        edge.client.publish(f"{BASE}/b2/event/b2-u1-1502-smoke", b"{}", qos=1).wait_for_publish(5)
        wait_for(lambda: hub_sees(f"{BASE}/b1/cmd/marker"), 10, "the hub's marker")
        assert f"{BASE}/b2/event/b2-u1-1502-smoke" not in hub.topics()
    finally:
        hub.close()
        edge.close()

    # Each trusts the broker's CA, so the refusal is the broker's: no certificate; a certificate named edge-b1 from
    # another CA (same name, wrong issuer); plain MQTT on the TLS port.
    other = TLSFiles.under(tmp_path / "other")
    provision_tls(tmp_path / "other", compound=compound.id, identities=[edge_username("b1")])
    ca = TLSFiles(tls_dir).ca
    strangers = [
        Client(port, "it-tls-nocert", MqttTLS(ca, None, None)),
        Client(port, "it-tls-otherca", MqttTLS(ca, other.cert(edge_username("b1")), other.key(edge_username("b1")))),
        Client(port, "it-tls-plain", None),
    ]
    for stranger in strangers:
        try:
            assert not stranger.connect(3.0), stranger.client_id
        finally:
            stranger.close()


def test_compound_up_over_tls(tls_mosquitto: tuple[MosquittoServer, Path], tmp_path: Path) -> None:
    """Test that `compound up --broker mqtts://...` connects the hub and every edge with their own certificates
    from <data-dir>/keys/tls (the listener refuses anything else) and the hub stores every event the edges made."""
    server, data = tls_mosquitto
    url = f"mqtts://127.0.0.1:{server.tls_port}"
    log = tmp_path / "up.err"
    with open(log, "ab") as err:
        proc = subprocess.run(
            [
                *(sys.executable, "-m", "compound.cli", "up", "--scenario", "kitchen-fire-night"),
                *("--duration", "420", "--speed", "30", "--edges", "b2,kg", "--json", "--port", "0"),
                *("--broker", url, "--data-dir", str(data)),
            ],
            stdout=subprocess.PIPE,
            stderr=err,
            cwd=ROOT,
            timeout=180,
            check=False,
        )
    assert proc.returncode == 0, log.read_text()[-3000:]
    report = json.loads(proc.stdout)
    assert report["events"]["produced"] > 0
    assert report["events"]["received"] == report["events"]["produced"], report["events"]
    assert [a["device"] for a in report["alarms"] if a["kind"] == "smoke"] == ["b2-u1-1502-smoke"]


def test_mqtts_url_and_tls_dir_choose_the_certificate(tmp_path: Path) -> None:
    """Test that an mqtts:// broker URL means TLS on 8883 with the identity's files under <data-dir>/keys/tls,
    --mqtt-tls-dir overrides the folder, a plain URL stays plain, and a missing certificate is a clear error."""
    import argparse

    provision_tls(tmp_path, compound="c", identities=[HUB])
    url = parse_broker("mqtts://broker.lan")
    assert (url.host, url.port, url.tls, str(url)) == ("broker.lan", 8883, True, "mqtts://broker.lan:8883")
    args = argparse.Namespace(broker=url, data_dir=tmp_path, mqtt_tls_dir=None, mqtt_username=None)
    tls = mqtt_tls(args, HUB)
    assert tls is not None and tls.cert == TLSFiles.under(tmp_path).cert(HUB)
    plain = argparse.Namespace(broker=parse_broker("mqtt://broker.lan"), data_dir=tmp_path, mqtt_tls_dir=None)
    assert mqtt_tls(plain, HUB) is None
    chosen = argparse.Namespace(**{**vars(plain), "mqtt_tls_dir": TLSFiles.under(tmp_path).directory})
    assert mqtt_tls(chosen, HUB) is not None
    with pytest.raises(FileNotFoundError, match="compound keys --tls"):
        mqtt_tls(args, edge_username("b1"))
    for name in ("ca.key", "hub.key", "server.key"):
        assert (TLSFiles.under(tmp_path).directory / name).stat().st_mode & 0o777 == 0o600
