"""Browser test: an e-bike alarm's detail shows the edge's JPEG snapshot (boxes drawn) and its detections.

The event and its snapshot travel over Mosquitto as the edge's lift camera publishes them, the snapshot
after the event (the page shows "waiting" and picks it up). The JPEG is a real simulator frame run through
the shipped detector and the edge's snapshot renderer. Screenshot: ``test-artifacts/ebike-alarm.png``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from compound import wire
from compound.config.models import Role
from edge.vision import DEFAULT_MODEL, OnnxDetector
from edge.vision.snapshot import render_snapshot
from tests.hub.web.test_browser import WAIT_MS, LiveHub, _open_alarm_ids, browser, live_hub  # noqa: F401
from tests.support import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.broker]

LIFT_CAM = "b2-u1-lift1-cam"


def lift_snapshot() -> tuple[bytes, list[wire.Detection]]:
    """A rendered lift frame with an e-bike in it, detected and drawn as the edge does."""
    from simulators.camera import build

    frame = build("lift-ebike", 1).frame(22.0).image
    dets = OnnxDetector(DEFAULT_MODEL, conf=0.3, threads=1).detect(frame)
    assert any(d.cls == "ebike" for d in dets), dets
    jpeg = render_snapshot(frame, dets, highlight=[d for d in dets if d.cls == "ebike"])
    wired = [wire.Detection(cls=d.cls, score=round(d.score, 4), box=tuple(round(v, 4) for v in d.box)) for d in dets]
    return jpeg, wired


def publish_ebike(hub: LiveHub, dets: list[wire.Detection]) -> wire.Event:
    """Publish a raised e-bike event naming its snapshot, over MQTT, as the edge would."""
    device = hub.compound.devices[LIFT_CAM]
    hub.seq += 1
    event_id = wire.new_event_id()
    msg = wire.Event(
        id=event_id,
        seq=hub.seq,
        compound=hub.compound.id,
        edge=device.edge,
        device=LIFT_CAM,
        kind=wire.EventKind.EBIKE_IN_LIFT,
        state=wire.EventState.RAISED,
        severity=wire.Severity.WARNING,
        value=max(d.score for d in dets if d.cls == "ebike"),
        threshold=0.5,
        location=wire.Location(building=device.building, unit=device.unit, place=device.place),
        occurred_at=datetime.now(UTC),
        message="E-bike in the lift car: doors held, warning playing",
        evidence=wire.Evidence(detections=tuple(dets), snapshot=event_id),
    )
    topic = wire.topic(hub.compound.id, device.edge, wire.MessageType.EVENT, LIFT_CAM, prefix=hub.compound.prefix)
    hub.publisher.publish(topic, wire.dump(msg))
    return msg


def publish_snapshot(hub: LiveHub, event: wire.Event, jpeg: bytes) -> None:
    topic = wire.topic(hub.compound.id, event.edge, wire.MessageType.SNAPSHOT, event.id, prefix=hub.compound.prefix)
    hub.publisher.publish(topic, jpeg)


def expect_snapshot(page: Page, root: str) -> None:
    """The detail under ``root`` shows a decoded snapshot image and the e-bike detection."""
    img = page.locator(f"{root} #alarm-snapshot")
    expect(img).to_be_visible(timeout=WAIT_MS)
    page.wait_for_function(
        "() => { const i = document.querySelector('#alarm-snapshot'); return i && i.complete && i.naturalWidth > 0; }",
        timeout=WAIT_MS,
    )
    assert page.evaluate("document.querySelector('#alarm-snapshot').naturalWidth") > 0
    expect(page.locator(f'{root} #alarm-detections li[data-cls="ebike"]')).to_have_count(1)


def test_ebike_alarm_detail_shows_the_snapshot(live_hub: LiveHub, browser: Browser, artifacts_dir: Path) -> None:  # noqa: F811
    """Test that the console's e-bike alarm detail shows the JPEG (naturalWidth > 0) and the detections."""
    jpeg, dets = lift_snapshot()
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    try:
        live_hub.login(page, "p-han-mei")
        event = publish_ebike(live_hub, dets)
        row = page.locator('#alarm-rows tr[data-kind="ebike_in_lift"]')
        expect(row).to_have_count(1, timeout=WAIT_MS)
        alarm_id = wait_for(lambda: _open_alarm_ids(live_hub).get(LIFT_CAM), what="e-bike alarm stored")
        row.click()
        detail = page.locator("#detail")
        expect(detail.locator(".d-head")).to_have_attribute("data-alarm-id", str(alarm_id), timeout=WAIT_MS)
        expect(detail.locator("#alarm-evidence")).to_have_attribute("data-state", "waiting", timeout=WAIT_MS)
        expect(detail.locator("#alarm-curve")).to_have_count(0)  # no sensor curve for a camera alarm

        publish_snapshot(live_hub, event, jpeg)  # after the event: the page picks it up on its own
        expect_snapshot(page, "#detail")
        expect(detail.locator("#alarm-detections")).to_contain_text("电动车")
        expect(detail.locator(".routes li").first).to_be_visible()
        page.screenshot(path=artifacts_dir / "ebike-alarm.png")
    finally:
        context.close()


def test_worker_page_shows_the_ebike_snapshot(live_hub: LiveHub, browser: Browser, artifacts_dir: Path) -> None:  # noqa: F811
    """Test that the lift's micro-grid worker sees the snapshot on the phone page's alarm detail."""
    jpeg, dets = lift_snapshot()
    on_duty = live_hub.compound.on_duty(Role.MICRO_GRID_WORKER, "mg-b2-u1", datetime.now(UTC))
    assert len(on_duty) == 1
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        event = publish_ebike(live_hub, dets)
        publish_snapshot(live_hub, event, jpeg)
        live_hub.login(page, on_duty[0].id, "/worker")
        cards = page.locator("#cards li")
        expect(cards).to_have_count(1, timeout=WAIT_MS)
        cards.first.click()
        expect_snapshot(page, "#detail-view")
        page.screenshot(path=artifacts_dir / "ebike-alarm-worker.png")
    finally:
        context.close()
