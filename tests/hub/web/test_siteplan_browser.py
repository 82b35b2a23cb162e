"""Browser tests of the site plan, attention (sound, title, favicon, banner) and device health (issue 15).

Debian's Chromium through Playwright against a real hub (Mosquitto, ingest, SQLite, uvicorn), with the
fixtures of ``test_browser``. Every visible string of the Chinese UI of these pages is checked against
``common.js``'s zh table (``I18N.zh``), not by eye (``tests/hub/web/i18n_check.py``, shared by every page's
test): what is left of the page's text once the table's values, the config's names (buildings, grids, people,
the household shown) and numbers, times and punctuation are taken out must be empty. Screenshots of each
page go to ``docs/``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from compound import wire
from tests.hub.web import test_browser
from tests.hub.web.i18n_check import assert_all_from_table
from tests.hub.web.test_browser import WAIT_MS, LiveHub, _open_alarm_ids
from tests.servers import MosquittoServer
from tests.support import wait_for

live_hub = test_browser.live_hub
browser = test_browser.browser

pytestmark = [pytest.mark.browser, pytest.mark.broker]

DOCS = Path(__file__).resolve().parents[3] / "docs"
MANAGER = "p-han-mei"
MAINTENANCE = "p-deng-hao"
B2U1_WORKER = "p-wang-li"

_AUDIO_PROBE = """
window.__audio = [];
HTMLMediaElement.prototype.play = function () { window.__audio.push("play"); return Promise.resolve(); };
HTMLMediaElement.prototype.pause = function () { window.__audio.push("pause"); };
"""


def _login(hub: LiveHub, page: Page, person_id: str, path: str) -> None:
    page.on("pageerror", lambda err: print(f"page error: {err}"))
    page.on("console", lambda msg: print(f"console: {msg.text}") if msg.type == "error" else None)
    page.goto(f"{hub.url}/login?next={path}")
    page.fill("#token", hub.signer.issue_for(hub.compound, person_id))
    page.click("button[type=submit]")
    page.wait_for_url(f"{hub.url}{path}")
    expect(page.locator("body")).to_have_attribute("data-ready", "1", timeout=WAIT_MS)


def _screenshot(page: Page, name: str) -> None:
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=DOCS / name)


def test_site_plan_marker_on_b2_and_drill_down_to_1502(live_hub: LiveHub, browser: Browser) -> None:
    """Test that a kitchen fire at b2-u1-1502 puts a pulsing critical marker on 2号楼, and drill-down reaches 1502."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    try:
        _login(live_hub, page, MANAGER, "/siteplan")
        expect(page.locator("#plan g.sp-building")).to_have_count(5)
        live_hub.publish("b4-u3-2304-smoke", wire.EventKind.LOW_BATTERY, wire.Severity.INFO, 12, "%", 15)
        live_hub.publish("b2-u1-1502-smoke")
        marker = page.locator('#plan g[data-building="b2"] .marker[data-kind="smoke"]')
        expect(marker).to_have_count(1, timeout=WAIT_MS)
        expect(marker).to_have_attribute("data-severity", "critical")
        expect(marker).to_have_class(re.compile(r"\bunacked\b"))
        expect(page.locator('#plan g[data-building="b4"] .marker[data-kind="low_battery"]')).to_have_count(1)
        expect(page.locator('#plan g[data-building="b1"] .marker')).to_have_count(0)
        alarm_id = wait_for(lambda: _open_alarm_ids(live_hub).get("b2-u1-1502-smoke"), what="smoke alarm stored")
        expect(marker).to_have_attribute("data-alarm-id", str(alarm_id))
        assert_all_from_table(page)
        _screenshot(page, "siteplan.png")

        page.click('#plan g[data-building="b2"] .sp-footprint')
        expect(page.locator('#sp-panel .sp-head[data-building="b2"]')).to_have_count(1, timeout=WAIT_MS)
        flat = page.locator('#sp-panel .sp-unit[data-unit="u1"] td.sp-flat[data-flat="1502"]')
        expect(flat).to_have_class(re.compile(r"\balarm\b.*\bsev-critical\b"))
        expect(page.locator('#sp-panel .sp-unit[data-unit="u2"] td.sp-flat[data-flat="1502"]')).not_to_have_class(
            re.compile(r"\balarm\b")
        )
        assert_all_from_table(page)
        _screenshot(page, "siteplan-building.png")

        flat.click()
        expect(page.locator('#sp-panel .sp-head[data-flat="1502"]')).to_have_count(1, timeout=WAIT_MS)
        expect(page.locator('#flat-devices li[data-device="b2-u1-1502-smoke"]')).to_have_attribute(
            "data-status", "alarm"
        )
        expect(page.locator("#flat-household")).to_contain_text("张建国")
        expect(page.locator(f'#flat-history li[data-alarm-id="{alarm_id}"]')).to_have_count(1)
        household = page.evaluate(
            "async () => (await (await fetch('/api/v1/siteplan/flats/b2/u1/1502')).json()).household"
        )
        data = [r["name"] for r in household["residents"]] + [r.get("phone") or "" for r in household["residents"]]
        data += [r.get("notes") or "" for r in household["residents"]]
        assert_all_from_table(page, data)
        _screenshot(page, "siteplan-flat.png")
        assert page.url.endswith("#/f/b2/u1/1502")

        page.click("#lang")  # English, in place; the names from the config stay as they are
        expect(page.locator("#sp-panel h3").first).to_have_text("Devices")
        names = [n for n in data if n] + ["1号楼", "2号楼", "3号楼", "4号楼", "阳光幼儿园"]
        assert_all_from_table(page, names, lang="en")
        page.click("#lang")
    finally:
        context.close()


def test_sound_and_title_flash_until_acknowledged(live_hub: LiveHub, browser: Browser) -> None:
    """Test that a new critical alarm plays the tone and flashes title and favicon, and acknowledging stops both."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    context.add_init_script(_AUDIO_PROBE)
    page = context.new_page()
    page.on("pageerror", lambda err: print(f"page error: {err}"))
    try:
        live_hub.login(page, MANAGER)
        title = page.title()
        assert title == "社区安全监控 · 告警中心"
        sound = page.locator("#sound")
        expect(sound).to_have_text("开启声音")
        sound.click()
        expect(sound).to_have_text("声音已开启")
        expect(page.locator("body")).to_have_attribute("data-attention", "off")
        page.evaluate("window.__audio.length = 0")

        live_hub.publish("b2-u1-1502-smoke")
        expect(page.locator("body")).to_have_attribute("data-attention", "on", timeout=WAIT_MS)
        assert page.evaluate("window.__audio") == ["play"]
        titles = set()
        for _ in range(12):
            titles.add(page.title())
            page.wait_for_timeout(250)
        assert title in titles and "【紧急告警】 1 条紧急告警待确认" in titles, titles
        icon = page.locator('link[rel="icon"]')
        hrefs = set()
        for _ in range(12):
            hrefs.add(icon.get_attribute("href"))
            page.wait_for_timeout(250)
        assert hrefs == {"/static/favicon.svg", "/static/favicon-alert.svg"}
        assert page.request.get(f"{live_hub.url}/static/alarm.wav").body()[:4] == b"RIFF"

        page.locator('#alarm-rows tr[data-kind="smoke"]').click()
        page.click("#ack")
        expect(page.locator("body")).to_have_attribute("data-attention", "off", timeout=WAIT_MS)
        assert page.evaluate("window.__audio") == ["play", "pause"]
        page.wait_for_timeout(1500)
        assert page.title() == title
        assert icon.get_attribute("href") == "/static/favicon.svg"
    finally:
        context.close()


def test_health_page_lists_a_dying_detector(live_hub: LiveHub, browser: Browser) -> None:
    """Test that a low_battery alarm puts its detector at the top of the maintenance list, and the CSV has it."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    try:
        live_hub.publish("b4-u3-2304-smoke", wire.EventKind.LOW_BATTERY, wire.Severity.INFO, 12, "%", 15)
        wait_for(lambda: _open_alarm_ids(live_hub).get("b4-u3-2304-smoke"), what="low battery alarm stored")
        _login(live_hub, page, MAINTENANCE, "/device-health")
        row = page.locator('#h-device-rows tr[data-device="b4-u3-2304-smoke"]')
        expect(row).to_have_attribute("data-status", "low_battery")
        expect(row).to_contain_text("电量低")
        expect(row).to_contain_text("12%")
        expect(row).to_contain_text("23层")
        expect(
            page.locator(
                '#h-count-rows tr[data-building="b4"][data-type="smoke_detector"] td[data-status="low_battery"]'
            )
        ).to_have_text("1")
        page.select_option("#h-status", "low_battery")
        expect(page.locator("#h-device-rows tr")).to_have_count(1)
        assert page.locator("#h-csv").get_attribute("href") == "/api/v1/device-health.csv?status=low_battery"
        csv_text = page.request.get(f"{live_hub.url}/api/v1/device-health.csv?status=low_battery").text()
        assert "b4-u3-2304-smoke,smoke_detector,b4,u3,23,2304" in csv_text
        assert_all_from_table(page)
        _screenshot(page, "device-health.png")
        page.click("#lang")
        expect(row).to_contain_text("Low battery")
        assert_all_from_table(page, ["1号楼", "2号楼", "3号楼", "4号楼", "阳光幼儿园"], lang="en")
        page.click("#lang")
    finally:
        context.close()


def test_a_grid_workers_pages_show_only_their_grid(live_hub: LiveHub, browser: Browser) -> None:
    """Test that 王丽 (micro-grid b2 unit 1) sees only that unit on the plan, the building and device health."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    try:
        live_hub.publish("b1-u1-101-smoke")
        live_hub.publish("b2-u2-1502-smoke")
        wait_for(lambda: len(_open_alarm_ids(live_hub)) == 2, what="two alarms stored")
        _login(live_hub, page, B2U1_WORKER, "/siteplan")
        expect(page.locator("#plan g.sp-building")).to_have_count(1)
        expect(page.locator('#plan g.sp-building[data-building="b2"]')).to_have_count(1)
        expect(page.locator("#plan .marker")).to_have_count(0)
        live_hub.publish("b2-u1-1502-smoke")
        expect(page.locator('#plan g[data-building="b2"] .marker[data-kind="smoke"]')).to_have_count(1, timeout=WAIT_MS)
        page.click('#plan g[data-building="b2"] .sp-footprint')
        expect(page.locator("#sp-panel .sp-unit")).to_have_count(1, timeout=WAIT_MS)
        expect(page.locator('#sp-panel .sp-unit[data-unit="u1"]')).to_have_count(1)
        expect(page.locator("#sp-panel .sp-open li[data-alarm-id]")).to_have_count(1)
        assert_all_from_table(page)
        _screenshot(page, "siteplan-grid-worker.png")

        page.goto(f"{live_hub.url}/device-health")
        expect(page.locator("body")).to_have_attribute("data-ready", "1", timeout=WAIT_MS)
        buildings = page.locator("#h-count-rows tr").evaluate_all(
            "rows => [...new Set(rows.map(r => r.dataset.building))]"
        )
        assert buildings == ["b2"]
        ids = page.evaluate("async () => (await (await fetch('/api/v1/device-health')).json()).devices.map(d => d.id)")
        assert ids and all(i.startswith("b2-u1-") for i in ids)
    finally:
        context.close()


def test_banner_while_an_edge_is_offline_or_the_broker_is_lost(
    live_hub: LiveHub, browser: Browser, mosquitto: MosquittoServer
) -> None:
    """Test that an edge's last will (offline) and then the broker going away each put up the banner."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    try:
        _login(live_hub, page, MANAGER, "/siteplan")
        banner = page.locator("#attention-banner")
        expect(banner).to_be_hidden()
        status = wire.Status(compound=live_hub.compound.id, edge="b3", state=wire.EdgeState.OFFLINE)
        topic = wire.topic(live_hub.compound.id, "b3", wire.MessageType.STATUS, prefix=live_hub.compound.prefix)
        live_hub.publisher.publish(topic, wire.dump(status))
        expect(banner).to_contain_text("边缘网关离线：3号楼", timeout=WAIT_MS + 10_000)
        assert_all_from_table(page)
        _screenshot(page, "banner-edge-offline.png")
        mosquitto.stop()
        expect(banner).to_contain_text("中心与消息服务器的连接已中断", timeout=WAIT_MS + 10_000)
    finally:
        context.close()


def test_history_searches_on_the_server(live_hub: LiveHub, browser: Browser) -> None:
    """Test that 历史告警 lists alarms from the server, filters by building and kind, and counts the total."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    try:
        live_hub.publish("b1-u1-101-smoke")
        live_hub.publish("b2-u1-1502-smoke")
        live_hub.publish("b4-u3-2304-smoke", wire.EventKind.LOW_BATTERY, wire.Severity.INFO, 12, "%", 15)
        wait_for(lambda: len(_open_alarm_ids(live_hub)) == 3, what="three alarms stored")
        _login(live_hub, page, MANAGER, "/history")
        expect(page.locator("#hs-rows tr")).to_have_count(3)
        expect(page.locator("#hs-count")).to_contain_text("共 3 条")
        page.select_option("#hs-building", "b2")
        page.click("#hs-search")
        expect(page.locator("#hs-rows tr")).to_have_count(1)
        expect(page.locator("#hs-rows tr")).to_contain_text("1502室")
        page.select_option("#hs-building", "")
        page.select_option("#hs-kind", "low_battery")
        page.click("#hs-search")
        expect(page.locator('#hs-rows tr[data-kind="low_battery"]')).to_have_count(1)
        expect(page.locator("#hs-rows tr")).to_have_count(1)
        assert_all_from_table(page)
        page.select_option("#hs-kind", "")
        page.click("#hs-search")
        expect(page.locator("#hs-rows tr")).to_have_count(3)
        _screenshot(page, "history.png")
    finally:
        context.close()
