"""Shared subscriptions where the broker delivers them, plain ones on amqtt, and the probe that tells which."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from compound.config import Compound
from hub.alarms.service import AlarmService
from hub.db import Database
from hub.ingest import Ingestor, probe_shared_subscriptions
from tests.hub.helpers import HubThread, Publisher, make_event, wait_for
from tests.servers import BrokerServer, free_port

pytestmark = pytest.mark.broker


def test_probe_tells_which_brokers_deliver_shared_subscriptions(broker: BrokerServer) -> None:
    """Test that the probe finds Mosquitto delivering $share/ subscriptions and amqtt 0.12 not."""
    assert probe_shared_subscriptions(broker.host, broker.port) is (broker.kind == "mosquitto")


def test_probe_of_an_unreachable_broker_says_so() -> None:
    """Test that the probe answers None (not a guess) when nothing listens."""
    assert probe_shared_subscriptions("127.0.0.1", free_port(), timeout=1.0) is None


@pytest.fixture
def auto_hub(broker: BrokerServer, hub_db: Database, compound: Compound) -> Iterator[HubThread]:
    """Hub ingest with broker kind 'auto'."""
    hub = HubThread(Ingestor(hub_db, compound, host=broker.host, port=broker.port, broker_kind="auto")).start()
    yield hub
    hub.stop()


def test_auto_broker_kind_ingests_on_both_brokers(
    auto_hub: HubThread, broker: BrokerServer, publisher: Publisher, compound: Compound, alarm_service: AlarmService
) -> None:
    """Test that with broker kind 'auto' the hub picks the right subscription and an event becomes an alarm."""
    expected_shared = broker.kind == "mosquitto"
    assert auto_hub.ingestor.shared is expected_shared
    assert auto_hub.ingestor.topic_filter.startswith("$share/hub/") is expected_shared
    publisher.event(compound, make_event(compound, "b2-u1-1502-smoke", seq=1))
    [alarm] = wait_for(alarm_service.list_alarms, what="the alarm")
    assert alarm.device == "b2-u1-1502-smoke"
