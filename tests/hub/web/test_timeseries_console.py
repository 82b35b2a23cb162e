"""The time series in the running hub: ``compound hub`` (embedded store) fed by ``compound edge`` replaying the
kitchen fire over Mosquitto, seen in Chromium.

One hub and one edge run per module, both on the scenario's simulated timeline (30x): the edge publishes the
fire's real readings and its smoke event, the hub stores the readings in its embedded time-series store and
raises the alarm; the console's alarm detail then charts the smoke curve crossing the threshold, the device
page charts the device's history, and ``/healthz`` reports the time series. Screenshots land in
``test-artifacts/`` (``alarm-curve.png``, ``device-page.png``, ``device-page-phone.png``, ``api-docs.png``).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect, sync_playwright

from compound.config import Compound
from hub.web import TokenSigner, load_secret_key
from hub.web.auth import SECRET_ENV, SESSION_COOKIE
from tests.hub.web.hub_process import ROOT, HubProcess, compound_cli, stop_process
from tests.hub.web.i18n_check import assert_all_from_table
from tests.hub.web.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.servers import MosquittoServer
from tests.support import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.broker, pytest.mark.slow]

SMOKE = "b2-u1-1502-smoke"
SCENARIO_START = datetime.fromisoformat("2026-11-24T02:00:00+08:00")
SPEED = 30.0
DURATION_S = 450  # simulated: ignition at 60 s, threshold crossed ~210 s, peak ~300 s
READING_INTERVAL_S = 30
MANAGER = "p-han-mei"  # property manager: sees every grid
WORKER = "p-wang-li"  # micro-grid worker of mg-b2-u1, the fire flat's unit
OTHER_WORKER_GRID = "mg-b3-u1"
WAIT_MS = 20_000


@dataclass
class RunningHub:
    """``compound hub`` in a subprocess after the kitchen fire was replayed into it."""

    url: str
    data_dir: Path
    signer: TokenSigner
    compound: Compound
    log_path: Path

    def token(self, person: str) -> str:
        """A bearer token (also the session cookie's value) for a person of the sample compound."""
        return self.signer.issue_for(self.compound, person)

    def get(self, path: str, person: str | None = MANAGER, **params: str) -> httpx.Response:
        """GET from the hub's API as ``person``."""
        headers = {"Authorization": f"Bearer {self.token(person)}"} if person else {}
        return httpx.get(f"{self.url}{path}", params=params, headers=headers, timeout=20)

    def smoke_alarm(self) -> dict[str, Any]:
        """The kitchen fire's smoke alarm, as the API lists it."""
        alarms = self.get("/api/v1/alarms", kind="smoke").json()
        found = [a for a in alarms if a["device"] == SMOKE]
        assert len(found) == 1, f"expected one smoke alarm at {SMOKE}, got {alarms}"
        return dict(found[0])

    def signed_in(self, browser: Browser, person: str, **options: Any) -> BrowserContext:
        """A browser context with ``person``'s session cookie."""
        context = browser.new_context(**options)
        context.add_cookies([{"name": SESSION_COOKIE, "value": self.token(person), "url": self.url}])
        return context


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, compound: Compound) -> Iterator[RunningHub]:
    """Mosquitto, ``compound hub`` (embedded time series only) and ``compound edge --scenario kitchen-fire-night``."""
    work = tmp_path_factory.mktemp("ts-console")
    broker = MosquittoServer(work / "mosquitto")
    broker.start()
    env = {k: v for k, v in os.environ.items() if k != SECRET_ENV and not k.startswith("COMPOUND_INFLUX")}
    real_start = time.time() + 6  # both processes are up before the scenario's first simulated second
    timeline = ["--sim-start", SCENARIO_START.isoformat(), "--real-start", f"{real_start:.3f}", "--speed", str(SPEED)]
    data_dir = work / "hub"
    wide = ["--max-skew", "400d"]
    hub_proc = HubProcess(
        # The edge stamps heartbeats and status on the wall clock, days after this timeline: widen the future
        # bound of timestamps as `compound up` does for its simulated runs.
        ["--broker", broker.url, "--broker-kind", "mosquitto", "--data-dir", str(data_dir), *timeline, *wide],
        work / "hub.log",
        env,
    )
    edge_proc: subprocess.Popen[bytes] | None = None
    try:
        hub_proc.start()
        with open(work / "edge.log", "wb") as log:
            edge_proc = subprocess.Popen(
                compound_cli("edge", "--edge", "b2", "--scenario", "kitchen-fire-night", "--duration", str(DURATION_S),
                             "--reading-interval", str(READING_INTERVAL_S), "--broker", broker.url,
                             "--data-dir", str(work / "edge"), *timeline),
                stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env,
            )  # fmt: skip
        code = edge_proc.wait(timeout=6 + DURATION_S / SPEED + 90)
        assert code == 0, (work / "edge.log").read_text(errors="replace")[-3000:]
        running = RunningHub(
            hub_proc.url, data_dir, TokenSigner(load_secret_key(data_dir)), compound, hub_proc.log_path
        )
        wait_for(lambda: running.get("/api/v1/alarms", kind="smoke").json(), 30, "the smoke alarm", interval=0.2)
        yield running
    finally:
        if edge_proc is not None:
            stop_process(edge_proc)
        code = hub_proc.stop()
        broker.stop()
    assert code == 0, f"hub did not stop cleanly ({code}):\n{hub_proc.log()[-3000:]}"
    assert "Traceback" not in hub_proc.log(), hub_proc.log()[-5000:]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def _curve(page: Page, selector: str) -> dict[str, Any]:
    """What the chart drew: the threshold line's y, every point's y, the window and the marker."""
    result = page.evaluate(
        """(selector) => {
            const svg = document.querySelector(selector);
            if (!svg) return null;
            const line = svg.querySelector(".series-threshold");
            const path = svg.querySelector(".series-line");
            return {
                points: Number(svg.dataset.points), threshold: svg.dataset.threshold, from: svg.dataset.from,
                to: svg.dataset.to, thresholdY: line ? Number(line.dataset.y) : null,
                ys: path ? path.dataset.ys.split(" ").map(Number) : [], marker: !!svg.querySelector(".series-marker"),
                crosses: svg.dataset.crossesThreshold,
            };
        }""",
        selector,
    )
    assert result is not None, f"no chart at {selector}"
    return dict(result)


def test_alarm_detail_shows_the_smoke_curve_crossing_the_threshold(
    hub: RunningHub, browser: Browser, artifacts_dir: Path
) -> None:
    """Test that the kitchen fire's smoke alarm detail charts the real readings crossing the threshold, live."""
    alarm = hub.smoke_alarm()
    context = hub.signed_in(browser, MANAGER, viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(f"{hub.url}/#/alarms/{alarm['id']}")
        detail = page.locator("#detail")
        expect(detail.locator(".d-head")).to_have_attribute("data-alarm-id", str(alarm["id"]), timeout=WAIT_MS)
        chart = detail.locator("#alarm-curve svg")
        expect(chart).to_have_attribute("data-crosses-threshold", "true", timeout=WAIT_MS)
        expect(detail.locator(".curve-section h3")).to_have_text("传感器曲线")
        curve = _curve(page, "#alarm-curve svg")
        # Points drawn both below the dashed threshold line (larger y) and above it (smaller y).
        assert curve["thresholdY"] is not None and curve["marker"]
        assert float(curve["threshold"]) == alarm["threshold"] == 0.15
        below = [y for y in curve["ys"] if y > curve["thresholdY"]]
        above = [y for y in curve["ys"] if y < curve["thresholdY"]]
        assert len(below) >= 3 and len(above) >= 3, curve
        assert curve["points"] == len(curve["ys"]) >= 8
        # The window starts 30 minutes before the raise, on the hub's simulated clock.
        raised = datetime.fromisoformat(alarm["raised_at"])
        assert datetime.fromisoformat(curve["from"]) == raised - timedelta(minutes=30)
        assert raised - SCENARIO_START < timedelta(seconds=DURATION_S)
        detail.screenshot(path=artifacts_dir / "alarm-curve.png")

        # Live while open: redrawn without a reload, its end following the hub's clock.
        loads = int(detail.locator("#alarm-curve").get_attribute("data-loads") or 0)
        expect(detail.locator("#alarm-curve")).not_to_have_attribute("data-loads", str(loads), timeout=WAIT_MS)
        later = _curve(page, "#alarm-curve svg")
        assert datetime.fromisoformat(later["to"]) > datetime.fromisoformat(curve["to"])

        page.click("#lang")  # the English switch re-renders the detail, chart included
        expect(detail.locator(".curve-section h3")).to_have_text("Sensor curve")
        expect(detail.locator("#alarm-curve svg")).to_have_attribute("data-crosses-threshold", "true")
    finally:
        context.close()


def test_device_page_shows_the_history_within_the_callers_grids(
    hub: RunningHub, browser: Browser, artifacts_dir: Path
) -> None:
    """Test that the device page, linked from the alarm detail, charts 1 h / 24 h / 7 d, on a phone too."""
    alarm = hub.smoke_alarm()
    context = hub.signed_in(browser, WORKER, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.goto(f"{hub.url}/worker")
        card = page.locator(f'#cards li[data-alarm-id="{alarm["id"]}"]')
        card.click(timeout=WAIT_MS)
        view = page.locator("#detail-view")
        expect(view.locator("#alarm-curve svg")).to_have_attribute("data-crosses-threshold", "true", timeout=WAIT_MS)
        page.screenshot(path=artifacts_dir / "worker-alarm-curve.png", full_page=True)

        view.locator("#device-link").click()
        page.wait_for_url(re.compile(rf"/devices/{SMOKE}\?back="))
        box = page.locator("#device-curve")
        expect(box).to_have_attribute("data-span", "86400", timeout=WAIT_MS)
        expect(page.locator("#device-id")).to_have_text(SMOKE)
        expect(page.locator("#device-facts")).to_contain_text("烟雾探测器")
        day = _curve(page, "#device-curve svg")
        assert day["points"] >= 8 and max(day["ys"]) - min(day["ys"]) > 50, day  # the fire's rise is on the chart
        assert datetime.fromisoformat(day["to"]) - datetime.fromisoformat(day["from"]) == timedelta(hours=24)
        page.screenshot(path=artifacts_dir / "device-page-phone.png", full_page=True)

        page.click('#ranges button[data-range="3600"]')
        expect(box).to_have_attribute("data-span", "3600", timeout=WAIT_MS)
        hour = _curve(page, "#device-curve svg")
        assert datetime.fromisoformat(hour["to"]) - datetime.fromisoformat(hour["from"]) == timedelta(hours=1)
        page.click('#ranges button[data-range="604800"]')
        expect(box).to_have_attribute("data-span", "604800", timeout=WAIT_MS)
        expect(page.locator('#ranges button[data-range="604800"]')).to_have_attribute("aria-pressed", "true")
        page.click("#back")
        page.wait_for_url(re.compile(r"/worker#/alarms/"))
    finally:
        context.close()

    # The same page on a desktop, for the property manager.
    context = hub.signed_in(browser, MANAGER, viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(f"{hub.url}/devices/{SMOKE}?span=3600")
        expect(page.locator("#device-curve")).to_have_attribute("data-span", "3600", timeout=WAIT_MS)
        expect(page.locator("#device-curve svg .series-line")).to_have_count(1)
        assert_all_from_table(page, [SMOKE, "b2"])  # the device page: the tables' words, its id and its edge's
        page.screenshot(path=artifacts_dir / "device-page.png")
    finally:
        context.close()

    # Outside the caller's grids the device does not exist, on the page and in the API.
    outsider = next(
        p.id for p in hub.compound.people_file.people if p.grids == [OTHER_WORKER_GRID]
    )  # a worker of building 3
    assert hub.get(f"/api/v1/devices/{SMOKE}", outsider).status_code == 404
    assert hub.get(f"/api/v1/devices/{SMOKE}/series", outsider).status_code == 404
    assert hub.get(f"/api/v1/devices/{SMOKE}/series", None).status_code == 401
    context = hub.signed_in(browser, outsider, viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        page.goto(f"{hub.url}/devices/{SMOKE}")
        expect(page.locator("#device-error")).to_have_text("无此设备或无权查看", timeout=WAIT_MS)
        expect(page.locator("#device-curve svg")).to_have_count(0)
    finally:
        context.close()


def test_healthz_reports_the_time_series_and_actions_use_the_hub_clock(hub: RunningHub) -> None:
    """Test that /healthz reports the embedded time series, and that acknowledging stamps the simulated time."""
    health = httpx.get(f"{hub.url}/healthz", timeout=10).json()
    series = health["parts"]["timeseries"]
    assert series["ok"] is True and series["backends"] == ["embedded"] and series["influx"] is None
    assert series["spooled_points"] == 0 and series["dropped_points"] == 0 and series["last_error"] is None
    assert series["embedded"]["stored_points"] > 1000  # every reading of building 2, battery included
    assert series["embedded"]["path"] == str(hub.data_dir / "timeseries.sqlite3")

    device = hub.get(f"/api/v1/devices/{SMOKE}").json()
    assert sorted(device["quantities"]) == ["battery", "smoke"]
    hub_now = datetime.fromisoformat(device["now"])
    assert abs(hub_now - datetime.now(UTC)) > timedelta(hours=1)  # the scenario's night, not the wall clock

    alarm = hub.smoke_alarm()
    response = httpx.post(
        f"{hub.url}/api/v1/alarms/{alarm['id']}/acknowledge",
        json={"note": "on my way"},
        headers={"Authorization": f"Bearer {hub.token(MANAGER)}"},
        timeout=20,
    )
    assert response.status_code == 200, response.text
    acknowledged = datetime.fromisoformat(response.json()["acknowledged_at"])
    assert hub_now <= acknowledged < hub_now + timedelta(hours=1), (hub_now, acknowledged)


def test_api_docs_work_offline(hub: RunningHub, browser: Browser, artifacts_dir: Path) -> None:
    """Test that /docs loads Swagger UI from the hub itself and renders with every other origin blocked."""
    html = httpx.get(f"{hub.url}/docs", timeout=10).text
    scripts = re.findall(r'src="([^"]+)"', html)
    assert scripts and all(s.startswith("/") and not s.startswith("//") for s in scripts), scripts
    assert "cdn" not in html.lower()
    assert httpx.get(f"{hub.url}{scripts[0]}", timeout=10).status_code == 200

    foreign: list[str] = []

    def only_own_origin(route: Route) -> None:
        if route.request.url.startswith(hub.url):
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.route("**/*", only_own_origin)
        page.goto(f"{hub.url}/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Compound safety hub", timeout=WAIT_MS)
        expect(page.locator(".swagger-ui")).to_contain_text("/api/v1/devices/{device_id}/series")
        page.screenshot(path=artifacts_dir / "api-docs.png")
        assert foreign == []
        page.goto(f"{hub.url}/redoc")
        expect(page.locator("h1")).to_contain_text("Compound safety hub", timeout=WAIT_MS)
        expect(page.locator("body")).to_contain_text("/api/v1/devices/{device_id}/series")
    finally:
        context.close()
    # ReDoc renders from the hub alone too; its bundle only asks Redocly's CDN for its badge image (blocked here).
    assert all(url.startswith("https://cdn.redoc.ly/") and url.endswith(".svg") for url in foreign), foreign


def test_resolved_alarm_curve_ends_at_the_resolution(hub: RunningHub, browser: Browser) -> None:
    """Test that once resolved, the alarm's curve spans from 30 min before the raise to the resolution."""
    alarm = hub.smoke_alarm()
    response = httpx.post(
        f"{hub.url}/api/v1/alarms/{alarm['id']}/resolve",
        json={"note": "厨房煎锅起火，已扑灭并通风"},
        headers={"Authorization": f"Bearer {hub.token(MANAGER)}"},
        timeout=20,
    )
    assert response.status_code == 200, response.text
    resolved = response.json()
    context = hub.signed_in(browser, MANAGER, viewport={"width": 1440, "height": 900}, locale="en-GB")
    page = context.new_page()
    try:
        page.goto(f"{hub.url}/#/alarms/{alarm['id']}")
        detail = page.locator("#detail")
        expect(detail.locator(".d-head")).to_have_attribute("data-state", "resolved", timeout=WAIT_MS)
        expect(detail.locator("#alarm-curve svg")).to_have_attribute("data-crosses-threshold", "true", timeout=WAIT_MS)
        curve = _curve(page, "#alarm-curve svg")
        raised = datetime.fromisoformat(resolved["raised_at"])
        assert datetime.fromisoformat(curve["from"]) == raised - timedelta(minutes=30)
        end = datetime.fromisoformat(resolved["resolved_at"])
        assert abs(datetime.fromisoformat(curve["to"]) - end) < timedelta(milliseconds=1)  # the browser keeps ms
    finally:
        context.close()
