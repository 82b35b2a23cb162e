"""The device-health page lists the dying detector of the ``detector-battery-dying`` scenario, end to end.

``compound up --scenario detector-battery-dying --edges b2`` runs the simulated gateway and the edge agent of 2号楼
and the hub on one scaled clock, over Mosquitto: b2-u2-1801-smoke's battery drains from 30 % at 6 %/h, the
edge's fault rule raises ``low_battery`` below 15 % (2.5 simulated hours in), the hub stores it, and the
maintenance worker's 设备状态 page in Debian's Chromium puts that detector at the top of its list as 电量低 with
its reading; nothing is fed to the hub by the test. Then, its battery empty (5 simulated hours), the detector
falls silent and the page calls it offline.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from compound.config import Compound
from hub.web import TokenSigner, load_secret_key
from hub.web.auth import SECRET_ENV
from tests.hub.web import test_browser
from tests.hub.web.hub_process import ROOT, stop_process
from tests.hub.web.i18n_check import assert_all_from_table
from tests.hub.web.test_browser import NAMES_ZH, WAIT_MS
from tests.servers import MosquittoServer
from tests.support import wait_for

browser = test_browser.browser

pytestmark = [pytest.mark.browser, pytest.mark.broker, pytest.mark.slow]

DYING = "b2-u2-1801-smoke"
MAINTENANCE = "p-deng-hao"
SPEED = 300
"""Simulated seconds per real second: the battery crosses 15 % 30 real seconds in, and is empty at 60."""
READING_INTERVAL_S = 240
"""Simulated seconds between readings (under the fault rule's 300 s offline bound), 437 devices on b2."""


class Up:
    """``compound up`` for the scenario: its console URL, and a token signer with its data directory's key."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path, data_dir: Path) -> None:
        self.proc, self.log, self.data_dir = proc, log, data_dir
        self.url = ""

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_console(self, timeout: float = 90.0) -> str:
        def found() -> str | None:
            assert self.proc.poll() is None, f"compound up exited:\n{self.text()[-3000:]}"
            match = re.search(r"console\s+(http://\S+?)/\s", self.text())
            return match.group(1) if match else None

        url = wait_for(found, timeout=timeout, interval=0.3, what="compound up's console URL")
        assert isinstance(url, str)
        self.url = url
        return url

    def token(self, compound: Compound, person_id: str) -> str:
        return TokenSigner(load_secret_key(self.data_dir)).issue_for(compound, person_id)


@pytest.fixture
def battery_run(mosquitto: MosquittoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Up]:
    """The scenario running on the edge b2 and the hub, open-ended, stopped with SIGTERM after the test."""
    monkeypatch.delenv(SECRET_ENV, raising=False)
    data_dir, log = tmp_path / "data", tmp_path / "up.log"
    env = {k: v for k, v in os.environ.items() if k != SECRET_ENV} | {"PYTHONUNBUFFERED": "1"}
    args = [
        "--scenario", "detector-battery-dying", "--edges", "b2", "--speed", str(SPEED),
        "--reading-interval", str(READING_INTERVAL_S), "--broker", mosquitto.url, "--port", "0",
        "--data-dir", str(data_dir),
    ]  # fmt: skip
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "compound.cli", "up", *args], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env
        )
    up = Up(proc, log, data_dir)
    try:
        up.wait_console()
        yield up
    finally:
        stop_process(proc)


def _device(up: Up, token: str) -> dict[str, object] | None:
    response = httpx.get(f"{up.url}/api/v1/device-health", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    response.raise_for_status()
    return next((d for d in response.json()["devices"] if d["id"] == DYING), None)


def test_the_health_page_lists_the_dying_detector_of_the_battery_scenario(
    battery_run: Up, browser: Browser, compound: Compound
) -> None:
    """Test that the scenario's draining detector reaches the maintenance list as 电量低 with its reading, through
    simulator → edge → Mosquitto → hub, and is offline once its battery is empty."""
    token = battery_run.token(compound, MAINTENANCE)
    started = time.monotonic()
    low = wait_for(
        lambda: (d := _device(battery_run, token)) is not None and d["status"] == "low_battery" and d,
        timeout=120,
        interval=1.0,
        what=f"{DYING} low on battery at the hub (compound up log: {battery_run.log})",
    )
    assert isinstance(low, dict)
    assert float(str(low["value"])) <= 15  # the edge raised it at the rule's 15 %, from the simulated reading
    assert time.monotonic() - started >= 5, "the battery is not low at the start: it drains during the run"

    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(f"{battery_run.url}/login?next=/device-health")
        page.fill("#token", token)
        page.click("button[type=submit]")
        page.wait_for_url(f"{battery_run.url}/device-health")
        expect(page.locator("body")).to_have_attribute("data-ready", "1", timeout=WAIT_MS)
        row = page.locator(f'#h-device-rows tr[data-device="{DYING}"]')
        expect(row).to_have_attribute("data-status", "low_battery")
        expect(row).to_contain_text("电量低")
        expect(row).to_contain_text("18层")
        expect(row).to_contain_text("1801")
        assert_all_from_table(page)
        page.screenshot(path=test_browser.DOCS / "device-health-battery-scenario.png")
        page.click("#lang")
        expect(row).to_contain_text("Low battery")
        assert_all_from_table(page, NAMES_ZH, lang="en")
        page.click("#lang")

        # Empty at 5 simulated hours: silent, so the edge's fault rule calls it offline, and so does the page.
        wait_for(
            lambda: (d := _device(battery_run, token)) is not None and d["status"] == "offline",
            timeout=120,
            interval=1.0,
            what=f"{DYING} offline once its battery is empty",
        )
        page.reload()
        expect(page.locator("body")).to_have_attribute("data-ready", "1", timeout=WAIT_MS)
        expect(row).to_have_attribute("data-status", "offline")
    finally:
        context.close()
