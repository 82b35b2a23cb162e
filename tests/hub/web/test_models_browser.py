"""Browser test of the 识别模型 page: shadow reports sent over Mosquitto are summed per camera, a manager promotes
a candidate and rolls it back, in Chinese and English. Screenshot: ``test-artifacts/models.png``."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from compound import wire
from compound.modelstore import ModelStore
from edge.vision import DEFAULT_MODEL
from tests.hub.web.test_browser import WAIT_MS, LiveHub, browser, live_hub  # noqa: F401
from tests.support import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.broker]

LIFT_CAM = "b2-u1-lift1-cam"
MANAGER = "p-han-mei"


def send_report(hub: LiveHub, live: bool, shadow: bool, at: datetime) -> None:
    report = wire.ShadowReport(
        id=wire.new_event_id(), compound=hub.compound.id, edge="b2", device=LIFT_CAM,
        kind=wire.EventKind.EBIKE_IN_LIFT, at=at, until=at + timedelta(seconds=15), live_raised=live,
        shadow_raised=shadow, live_model="compound_det.onnx 1a2b3c4d5e6f", shadow_model="candidate.onnx 6f5e4d3c2b1a",
    )  # fmt: skip
    topic = wire.topic(hub.compound.id, "b2", wire.MessageType.SHADOW, LIFT_CAM, prefix=hub.compound.prefix)
    hub.publisher.publish(topic, wire.dump(report))


def test_models_page_sums_shadow_reports_and_promotes(
    live_hub: LiveHub,  # noqa: F811
    browser: Browser,  # noqa: F811
    tmp_path: Path,
    artifacts_dir: Path,
) -> None:
    """Test that the page shows the lift camera's episodes (2 agree, 1 candidate-only, 1 live-only), that 升级为在用模型
    makes the candidate version 1 and 回退 goes back to vision.yaml's model, and that the English switch works."""
    now = datetime.now(UTC)
    for i, (live, shadow) in enumerate([(True, True), (False, True), (True, False), (True, True)]):
        send_report(live_hub, live, shadow, now + timedelta(minutes=i))
    store = ModelStore.of_data_dir(tmp_path / "data")  # the live_hub fixture's data directory
    (store.root / "candidates").mkdir(parents=True)
    shutil.copy(DEFAULT_MODEL, store.root / "candidates" / "candidate.onnx")
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    try:
        live_hub.login(page, MANAGER)
        expect(page.locator("#nav-models")).to_have_text("识别模型")
        wait_for(lambda: page.request.get(f"{live_hub.url}/api/v1/shadow").json()["cameras"], what="reports stored")
        page.goto(f"{live_hub.url}/models")
        row = page.locator(f'#shadow-rows tr[data-device="{LIFT_CAM}"]')
        expect(row.locator('[data-k="episodes"]')).to_have_text("4", timeout=WAIT_MS)
        expect(row.locator('[data-k="agreements"]')).to_have_text("2")
        expect(row.locator('[data-k="shadow_only"]')).to_have_text("1")
        expect(row.locator('[data-k="live_only"]')).to_have_text("1")
        expect(page.locator("#models-live")).to_contain_text("vision.yaml")
        page.locator('#candidates li[data-name="candidate.onnx"] button').click()
        expect(page.locator("#models-live")).to_have_attribute("data-version", "1", timeout=WAIT_MS)
        assert store.live_path() == store.root / "compound_det-v1.onnx"
        page.screenshot(path=artifacts_dir / "models.png")
        page.locator("#rollback").click()
        expect(page.locator("#models-live")).to_have_attribute("data-version", "", timeout=WAIT_MS)
        assert store.live_path() is None
        page.locator("#lang").click()
        expect(page.locator("#shadow-title")).to_have_text("Shadow mode vs live")
        expect(page.locator("#shadow-head th").nth(5)).to_have_text("Candidate only")
    finally:
        context.close()
