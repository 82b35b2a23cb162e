"""Three-node MQTT broker clusters on loopback for tests and benchmarks: NATS (MQTT on JetStream) and RabbitMQ
(MQTT plugin on quorum queues), each node a server binary started directly with generated config on free ports.

Nothing here is a mock: the nodes are Debian's ``nats-server`` and ``rabbitmq-server`` processes, each node can be
killed (SIGKILL, as a power cut) and started again on the same ports and data directory.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.support import free_port, wait_port, wait_port_closed

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
# The server script itself: /usr/sbin/rabbitmq-server is a wrapper that switches to the rabbitmq user with `su`,
# which drops the environment that places each node.
RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"


class ClusterNode:
    """One node of a cluster: an MQTT port on 127.0.0.1, its own directory, a process that can be killed."""

    kind = ""

    def __init__(self, cluster: BrokerCluster, index: int) -> None:
        self.cluster = cluster
        self.index = index
        self.name = f"n{index + 1}"
        self.host = "127.0.0.1"
        self.port = free_port()
        """The node's MQTT listener."""
        self.workdir = cluster.workdir / self.name
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / f"{self.kind}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def command(self) -> list[str]:
        raise TypeError(f"{type(self).__name__} must define its command line")

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def spawn(self) -> None:
        """Start the process (not waiting for it to serve)."""
        assert self.proc is None, f"{self.name} already running"
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
        self.proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            env=self.env(),
            start_new_session=True,
        )
        log.close()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the node's whole process group (a power cut: nothing flushed, no goodbye to its peers)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None
        wait_port_closed(self.port)

    def stop(self, timeout: float = 20.0) -> None:
        """Stop gracefully (SIGTERM to the group), SIGKILL after ``timeout``."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else "(no log)"


def mqtt_round_trip(sub: ClusterNode, pub: ClusterNode, timeout: float = 5.0) -> bool:
    """Whether a QoS 1 message published on ``pub`` reaches a QoS 1 subscriber on ``sub`` within ``timeout``."""
    token = secrets.token_hex(6)
    topic = f"probe/{token}"
    delivered, subscribed = threading.Event(), threading.Event()
    subscriber = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-sub-{token}")
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-pub-{token}")
    subscriber.on_subscribe = lambda _c, _u, _m, reasons, _p: None if reasons[0].is_failure else subscribed.set()
    subscriber.on_message = lambda _c, _u, message: delivered.set()
    clients: list[mqtt.Client] = []
    try:
        for client, node in ((subscriber, sub), (publisher, pub)):
            client.connect(node.host, node.port, keepalive=10)
            client.loop_start()
            clients.append(client)
        subscriber.subscribe(topic, qos=1)
        if not subscribed.wait(timeout):
            return False
        publisher.publish(topic, b"probe", qos=1)
        return delivered.wait(timeout)
    except OSError:
        return False
    finally:
        for client in clients:
            client.disconnect()
            client.loop_stop()


class BrokerCluster:
    """N nodes of one broker started together; ``ready()`` waits until MQTT clients are served on every node."""

    kind = ""
    node_class: type[ClusterNode] = ClusterNode
    start_timeout = 60.0

    def __init__(self, workdir: Path, size: int = 3) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.nodes = [self.node_class(self, i) for i in range(size)]
        self.started_s = 0.0
        """Seconds from spawning the nodes to every node serving MQTT (measured by ``start``)."""

    @property
    def endpoints(self) -> list[tuple[str, int]]:
        return [(n.host, n.port) for n in self.nodes]

    def start(self) -> BrokerCluster:
        began = time.monotonic()
        for node in self.nodes:
            node.spawn()
        try:
            self.ready(self.nodes, self.start_timeout)
        except BaseException:
            logs = "\n".join(f"--- {n.name}\n{n.log_tail()}" for n in self.nodes)
            self.stop()
            raise RuntimeError(f"{self.kind} cluster did not start; logs:\n{logs}") from None
        self.started_s = time.monotonic() - began
        return self

    def ready(self, nodes: list[ClusterNode], timeout: float) -> None:
        """Wait until each node routes a QoS 1 message to a subscriber on another node (the cluster is formed)."""
        deadline = time.monotonic() + timeout
        for node in nodes:
            wait_port(node.port, timeout=max(1.0, deadline - time.monotonic()))
            other = self.nodes[(self.nodes.index(node) + 1) % len(self.nodes)]
            while not mqtt_round_trip(node, other):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.kind} node {node.name} does not route to {other.name}")
                time.sleep(0.5)

    def restart(self, node: ClusterNode, timeout: float = 60.0) -> None:
        """Start a killed node again on its ports and data, and wait until it serves."""
        node.spawn()
        self.ready([node], timeout)

    def heal(self) -> None:
        """Start again every node that is not running (killed, or died by itself)."""
        for node in self.nodes:
            if not node.running:
                if node.proc is not None:
                    node.proc.wait(timeout=10)
                    node.proc = None
                self.restart(node)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


class NatsNode(ClusterNode):
    kind = "nats"

    def __init__(self, cluster: BrokerCluster, index: int) -> None:
        super().__init__(cluster, index)
        self.client_port = free_port()
        self.route_port = free_port()

    def command(self) -> list[str]:
        peers = [n for n in self.cluster.nodes if isinstance(n, NatsNode)]
        routes = ", ".join(f"nats-route://127.0.0.1:{n.route_port}" for n in peers)
        store = self.workdir / "jetstream"
        conf = self.workdir / "nats.conf"
        conf.write_text(
            f"server_name: {self.name}\n"
            f"listen: 127.0.0.1:{self.client_port}\n"
            f'jetstream {{ store_dir: "{store}" }}\n'
            f"cluster {{ name: compound, listen: 127.0.0.1:{self.route_port}, routes: [{routes}] }}\n"
            # Every MQTT session, message stream and consumer replicated on all three nodes (R3): one node lost
            # leaves a quorum of two that holds every acknowledged message.
            f"mqtt {{ listen: 127.0.0.1:{self.port}, stream_replicas: 3 }}\n"
        )
        return [NATS_SERVER, "-c", str(conf)]


class NatsCluster(BrokerCluster):
    """Three ``nats-server`` nodes routed to each other, JetStream clustered, the MQTT listener on each."""

    kind = "nats"
    node_class = NatsNode


class RabbitNode(ClusterNode):
    kind = "rabbitmq"

    def __init__(self, cluster: BrokerCluster, index: int) -> None:
        super().__init__(cluster, index)
        self.amqp_port = free_port()
        self.dist_port = free_port()
        self.nodename = f"rabbit-{self.name}@localhost"

    def env(self) -> dict[str, str]:
        cluster = self.cluster
        assert isinstance(cluster, RabbitCluster)
        return {
            **os.environ,
            "HOME": str(cluster.workdir),  # the shared Erlang cookie lives in $HOME/.erlang.cookie
            "RABBITMQ_NODENAME": self.nodename,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(cluster.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_MNESIA_BASE": str(self.workdir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.workdir / "log"),
            "RABBITMQ_LOGS": "-",
            "RABBITMQ_CONFIG_FILE": str(self.workdir / "rabbitmq"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(cluster.workdir / "enabled_plugins"),
        }

    def command(self) -> list[str]:
        cluster = self.cluster
        assert isinstance(cluster, RabbitCluster)
        peers = "".join(
            f"cluster_formation.classic_config.nodes.{i + 1} = {n.nodename}\n"
            for i, n in enumerate(n for n in cluster.nodes if isinstance(n, RabbitNode))
        )
        (self.workdir / "rabbitmq.conf").write_text(
            "cluster_formation.peer_discovery_backend = classic_config\n"
            f"{peers}"
            "loopback_users = none\n"
            "management_agent.disable_metrics_collector = true\n"
            f"mqtt.listeners.tcp.default = 127.0.0.1:{self.port}\n"
            "mqtt.allow_anonymous = true\n"
            # Persistent MQTT sessions' queues as quorum queues: replicated by Raft on every node.
            "mqtt.durable_queue_type = quorum\n"
        )
        return [RABBITMQ_SERVER]


class RabbitCluster(BrokerCluster):
    """Three ``rabbitmq-server`` nodes sharing a cookie, clustered by classic peer discovery, MQTT plugin on."""

    kind = "rabbitmq"
    node_class = RabbitNode
    start_timeout = 120.0

    def __init__(self, workdir: Path, size: int = 3) -> None:
        self.epmd_port = free_port()
        super().__init__(workdir, size)
        cookie = self.workdir / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16))
        cookie.chmod(0o400)
        (self.workdir / "enabled_plugins").write_text("[rabbitmq_mqtt].\n")

    def stop(self) -> None:
        super().stop()
        epmd = shutil.which("epmd")
        if epmd:  # the epmd this cluster's nodes started on its own port
            env = {**os.environ, "ERL_EPMD_PORT": str(self.epmd_port)}
            subprocess.run([epmd, "-kill"], env=env, capture_output=True, timeout=10, check=False)
