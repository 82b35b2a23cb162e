"""The README's examples work: the mosquitto_pub event it documents becomes a routed alarm on a real hub."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from hub.web.auth import TokenSigner, load_secret_key
from tests.conftest import ROOT
from tests.hub.web.hub_process import HubProcess
from tests.servers import MosquittoServer
from tests.support import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def readme_block(starting_with: str) -> str:
    """The first fenced shell block of README.md whose text starts with ``starting_with``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        if block.startswith(starting_with):
            return str(block)
    raise AssertionError(f"README.md has no ```sh block starting with {starting_with!r}")


def test_readme_mosquitto_pub_event_becomes_a_routed_alarm(mosquitto: MosquittoServer, tmp_path: Path) -> None:
    """Test that the README's mosquitto_pub command, run by bash against a real hub, raises a smoke alarm for
    b2/u1/1502 with no dead letter, notified once the hub's dispatcher has delivered it (the in-app inbox)."""
    data_dir = tmp_path / "hub"
    hub = HubProcess(
        ["--broker", mosquitto.url, "--config", str(ROOT / "configs"), "--data-dir", str(data_dir)],
        tmp_path / "hub.log",
        os.environ,
    ).start()
    try:
        command = readme_block("mosquitto_pub").replace("-p 1883", f"-p {mosquitto.port}")
        subprocess.run(["bash", "-c", command], check=True, timeout=30)
        token = TokenSigner(load_secret_key(data_dir)).issue("p-han-mei")
        headers = {"Authorization": f"Bearer {token}"}

        def smoke_alarms() -> list[dict[str, object]] | None:
            alarms = httpx.get(f"{hub.url}/api/v1/alarms", headers=headers, timeout=5).json()
            return alarms if alarms and alarms[0]["state"] == "notified" else None

        alarms = wait_for(smoke_alarms, timeout=30, interval=0.2, what="the README's alarm")
        assert alarms is not None and len(alarms) == 1
        alarm = alarms[0]
        assert (alarm["kind"], alarm["device"], alarm["state"]) == ("smoke", "b2-u1-1502-smoke", "notified")
        assert alarm["location"] == {"building": "b2", "unit": "u1", "floor": 15, "flat": "1502", "place": None}
        assert alarm["assignees"], "the README's event must be routed to someone on duty"
        sent = httpx.get(f"{hub.url}/api/v1/alarms/{alarm['id']}/notifications", headers=headers, timeout=5).json()
        assert {(j["channel"], j["state"]) for j in sent["jobs"] if j["level"] == 0} >= {("inbox", "delivered")}
        dead = httpx.get(f"{hub.url}/api/v1/dead-letters", headers=headers, timeout=5).json()
        assert dead == []
    finally:
        assert hub.stop() == 0
