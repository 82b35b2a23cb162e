"""``compound hub --influx-url``: readings from MQTT reach VictoriaMetrics; an outage shows on /healthz and heals."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from compound import wire
from compound.config import Compound
from hub.web import TokenSigner, load_secret_key
from hub.web.auth import SECRET_ENV
from tests.hub.helpers import Publisher
from tests.hub.timeseries.vm import VictoriaMetricsServer
from tests.hub.web.hub_process import HubProcess
from tests.servers import MosquittoServer
from tests.support import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.influx, pytest.mark.slow]

DEVICE = "b2-u1-1502-smoke"


def _publish_reading(publisher: Publisher, compound: Compound, value: float, at: datetime) -> None:
    msg = wire.Reading(
        compound=compound.id, edge="b2", device=DEVICE, quantity="smoke", value=value, unit="dB/m", battery=88.0, at=at
    )
    topic = wire.topic(compound.id, "b2", wire.MessageType.READING, DEVICE, prefix=compound.prefix)
    publisher.publish(topic, wire.dump(msg))


def _values(victoria: VictoriaMetricsServer) -> set[float]:
    return {value for *_, value in victoria.samples(f'{{__name__="reading_value",device="{DEVICE}",quantity="smoke"}}')}


def test_hub_writes_to_influx_and_reports_an_outage(
    mosquitto: MosquittoServer, victoria: VictoriaMetricsServer, compound: Compound, tmp_path: Path
) -> None:
    """Test that the hub started with --influx-url writes readings there, reports the spool while it is down."""
    env = {k: v for k, v in os.environ.items() if k != SECRET_ENV and not k.startswith("COMPOUND_INFLUX")}
    env["COMPOUND_INFLUX_TOKEN"] = "token-from-the-environment"
    env["COMPOUND_INFLUX_BUCKET"] = "from-env"
    hub = HubProcess(
        ["--broker", mosquitto.url, "--broker-kind", "mosquitto", "--data-dir", str(tmp_path / "hub"),
         "--influx-url", victoria.url, "--influx-bucket", "from-flag"],
        tmp_path / "hub.log",
        env,
    )  # fmt: skip
    publisher = Publisher(mosquitto.host, mosquitto.port)
    try:
        hub.start()
        assert f"time series {victoria.url}" in hub.log()
        now = datetime.now(UTC).replace(microsecond=0)
        _publish_reading(publisher, compound, 0.02, now - timedelta(seconds=2))
        wait_for(lambda: 0.02 in _values(victoria), 30, "the reading in VictoriaMetrics", interval=0.5)
        health = httpx.get(f"{hub.url}/healthz", timeout=10).json()["parts"]["timeseries"]
        assert health["ok"] is True and health["backends"] == ["embedded", "influx"]
        assert health["influx"]["bucket"] == "from-flag" and health["influx"]["reachable"] is True
        assert health["influx"]["written_points"] >= 2  # the smoke value and the battery
        assert "token-from-the-environment" not in str(health) + hub.log()

        victoria.stop()
        _publish_reading(publisher, compound, 0.31, now - timedelta(seconds=1))

        def degraded() -> dict[str, object] | None:
            response = httpx.get(f"{hub.url}/healthz", timeout=10)
            part = response.json()["parts"]["timeseries"]
            return part if response.status_code == 503 and part["spooled_points"] >= 2 else None

        part = wait_for(degraded, 30, "/healthz degraded with the reading spooled", interval=0.5)
        assert part is not None and part["ok"] is False and part["last_error"]
        # The console's curve keeps working from the embedded store during the outage.
        token = TokenSigner(load_secret_key(tmp_path / "hub")).issue_for(compound, "p-han-mei")
        curve = httpx.get(
            f"{hub.url}/api/v1/devices/{DEVICE}/series",
            params={"span": "600"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        assert [p["value"] for p in curve["points"]] == [0.02, 0.31]

        victoria.start()
        wait_for(lambda: 0.31 in _values(victoria), 60, "the spooled reading delivered after the outage", interval=0.5)
        healed = wait_for(
            lambda: httpx.get(f"{hub.url}/healthz", timeout=10).status_code == 200, 30, "healthy", interval=0.5
        )
        assert healed
        part = httpx.get(f"{hub.url}/healthz", timeout=10).json()["parts"]["timeseries"]
        assert part["ok"] is True and part["spooled_points"] == 0 and part["dropped_points"] == 0
        assert sorted(_values(victoria)) == [0.02, 0.31]
    finally:
        publisher.close()
        code = hub.stop()
    assert code == 0, hub.log()[-3000:]
