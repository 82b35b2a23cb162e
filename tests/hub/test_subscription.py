"""Shared subscriptions where the broker delivers them, plain ones on amqtt, and the probe that tells which."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from compound.config import Compound
from hub.alarms.service import AlarmService
from hub.db import Database
from hub.ingest import Ingestor, probe_shared_subscriptions
from tests.hub.helpers import HubThread, Publisher, make_event
from tests.servers import BrokerServer
from tests.support import free_port, wait_for

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


@pytest.mark.slow
def test_hub_reconnects_after_a_broker_restart(
    running_hub: HubThread, broker: BrokerServer, compound: Compound, alarm_service: AlarmService
) -> None:
    """Test that ingest reconnects and resubscribes by itself after the broker restarts, and keeps storing."""
    first = Publisher(broker.host, broker.port)
    first.event(compound, make_event(compound, "b2-u1-1502-smoke", seq=1))
    wait_for(alarm_service.list_alarms, what="the first alarm")
    first.close()
    ingestor = running_hub.ingestor
    before = ingestor.connections
    broker.restart()
    wait_for(lambda: ingestor.connections > before and ingestor.subscribed.is_set(), timeout=30, what="resubscribe")
    second = Publisher(broker.host, broker.port)
    try:
        second.event(compound, make_event(compound, "b1-u1-101-smoke", seq=2))
        wait_for(lambda: len(alarm_service.list_alarms()) == 2, timeout=30, what="the alarm after the restart")
    finally:
        second.close()
    assert running_hub.alive
    assert alarm_service.stats()["gaps"] == 0
