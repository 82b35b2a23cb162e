"""Hub ingest with fallback broker nodes: a node that refuses connections is left for the next one."""

from __future__ import annotations

from pathlib import Path

import pytest

from compound.cli import build_parser
from compound.cli.commands.hub import run
from compound.config import Compound
from hub.alarms.service import AlarmService
from hub.db import Database
from hub.ingest import Ingestor
from tests.hub.helpers import HubThread, Publisher, make_event
from tests.servers import MosquittoServer
from tests.support import free_port, wait_for

pytestmark = pytest.mark.broker


def test_an_unreachable_first_node_is_left_for_the_fallback(
    mosquitto: MosquittoServer, hub_db: Database, compound: Compound, alarm_service: AlarmService
) -> None:
    """Test that a hub whose first broker node refuses connections subscribes on its fallback after
    ``failover_after_s`` and stores what is published there."""
    ingestor = Ingestor(
        hub_db,
        compound,
        host="127.0.0.1",
        port=free_port(),
        broker_kind="mosquitto",
        fallbacks=[(mosquitto.host, mosquitto.port)],
        failover_after_s=0.5,
    )
    hub = HubThread(ingestor).start(timeout=30)
    publisher = Publisher(mosquitto.host, mosquitto.port)
    try:
        assert ingestor.failovers == 1
        assert (ingestor.host, ingestor.port) == (mosquitto.host, mosquitto.port)
        publisher.event(compound, make_event(compound, "b2-u1-1502-smoke", seq=1))
        [alarm] = wait_for(alarm_service.list_alarms, what="the alarm through the fallback")
        assert alarm.device == "b2-u1-1502-smoke"
    finally:
        publisher.close()
        hub.stop()


def test_failover_delay_must_be_positive(hub_db: Database, compound: Compound) -> None:
    """Test that a zero failover delay is refused with a message naming it."""
    with pytest.raises(ValueError, match="failover_after_s must be positive"):
        Ingestor(hub_db, compound, failover_after_s=0)


def test_compound_hub_refuses_a_fallback_of_another_scheme(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Test that ``compound hub`` refuses a plain-TCP fallback beside a TLS broker (exit 2, both URLs named)."""
    args = build_parser().parse_args(
        ["hub", "--broker", "mqtts://127.0.0.1:8883", "--broker-fallback", "mqtt://127.0.0.1:1883",
         "--data-dir", str(tmp_path / "data"), "--port", "0"]
    )  # fmt: skip
    assert args.broker_fallback and run(args) == 2
    err = capsys.readouterr().err
    assert "--broker-fallback mqtt://127.0.0.1:1883 must use the scheme of --broker mqtts://127.0.0.1:8883" in err
