"""Shared fixtures: real brokers on free loopback ports, the sample config, an artifacts folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import simulators
from compound.config import Compound, load_config
from tests.servers import AmqttServer, BrokerServer, MosquittoServer

simulators.register()  # the tests wire in the simulators as the CLI does: sim driver, sim: camera source

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def compound() -> Compound:
    """The sample compound from ``configs/``."""
    return load_config(ROOT / "configs")


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Folder for screenshots and other artifacts tests leave for humans."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoServer]:
    """A fresh Mosquitto on a free port."""
    server = MosquittoServer(tmp_path / "mosquitto")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def amqtt_broker(tmp_path: Path) -> Iterator[AmqttServer]:
    """A fresh embedded amqtt broker in its own process on a free port."""
    server = AmqttServer(tmp_path / "amqtt")
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["mosquitto", "amqtt"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BrokerServer]:
    """Each real broker in turn: the test runs once against Mosquitto and once against amqtt."""
    server: BrokerServer = (
        MosquittoServer(tmp_path / "mosquitto") if request.param == "mosquitto" else AmqttServer(tmp_path / "amqtt")
    )
    server.start()
    yield server
    server.stop()
