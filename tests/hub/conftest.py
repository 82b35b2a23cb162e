"""Fixtures for hub tests: a real SQLite database file, a service over it, a hub ingesting from a broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from compound.config import Compound
from hub.alarms.service import AlarmService
from hub.db import Database, default_url
from hub.ingest import Ingestor
from tests.hub.helpers import HubThread, Publisher
from tests.servers import BrokerServer


@pytest.fixture
def hub_db(tmp_path: Path) -> Iterator[Database]:
    """A fresh hub database in a SQLite file."""
    db = Database(default_url(tmp_path / "hub"))
    db.create()
    yield db
    db.dispose()


@pytest.fixture
def alarm_service(hub_db: Database, compound: Compound) -> AlarmService:
    """The alarm service over ``hub_db``."""
    return AlarmService(hub_db, compound)


@pytest.fixture
def running_hub(broker: BrokerServer, hub_db: Database, compound: Compound) -> Iterator[HubThread]:
    """Hub ingest subscribed to ``broker`` (each real broker in turn), storing into ``hub_db``."""
    ingestor = Ingestor(hub_db, compound, host=broker.host, port=broker.port, broker_kind=broker.kind)
    hub = HubThread(ingestor).start()
    yield hub
    hub.stop()


@pytest.fixture
def publisher(broker: BrokerServer) -> Iterator[Publisher]:
    """A plain MQTT client publishing to ``broker`` at QoS 1."""
    pub = Publisher(broker.host, broker.port)
    yield pub
    pub.close()
