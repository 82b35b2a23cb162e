"""Browser test: a manager marks one camera alarm false (误报) and reports a missed e-bike on another by dragging a
box on its snapshot, in real Chromium against a hub fed over Mosquitto. Screenshot: ``test-artifacts/marking.png``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from compound import wire
from hub.db import AlarmMark, AuditEntry
from tests.hub.web.test_browser import WAIT_MS, LiveHub, _open_alarm_ids, browser, live_hub  # noqa: F401
from tests.hub.web.test_snapshot_browser import LIFT_CAM, lift_snapshot, publish_ebike, publish_snapshot
from tests.support import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.broker]

LANE_CAM = "b2-fire-lane-cam"
MANAGER = "p-han-mei"


def publish_lane(hub: LiveHub, dets: list[wire.Detection]) -> wire.Event:
    """A raised fire-lane event naming its snapshot, over MQTT."""
    device = hub.compound.devices[LANE_CAM]
    hub.seq += 1
    event_id = wire.new_event_id()
    msg = wire.Event(
        id=event_id,
        seq=hub.seq,
        compound=hub.compound.id,
        edge=device.edge,
        device=LANE_CAM,
        kind=wire.EventKind.FIRE_LANE_BLOCKED,
        state=wire.EventState.RAISED,
        severity=wire.Severity.WARNING,
        value=75.0,
        unit="s",
        threshold=60.0,
        location=wire.Location(building=device.building, place=device.place),
        occurred_at=datetime.now(UTC),
        message="Fire lane blocked by car for 75 s",
        evidence=wire.Evidence(detections=tuple(dets[:1]), snapshot=event_id),
    )
    topic = wire.topic(hub.compound.id, device.edge, wire.MessageType.EVENT, LANE_CAM, prefix=hub.compound.prefix)
    hub.publisher.publish(topic, wire.dump(msg))
    return msg


def open_alarm(page: Page, kind: str, alarm_id: int) -> None:
    """Open an alarm's detail from the console's list and wait for its snapshot to be decoded."""
    page.locator(f'#alarm-rows tr[data-kind="{kind}"]').click()
    expect(page.locator("#detail .d-head")).to_have_attribute("data-alarm-id", str(alarm_id), timeout=WAIT_MS)
    page.wait_for_function(
        "() => { const i = document.querySelector('#alarm-snapshot'); return i && i.complete && i.naturalWidth > 0; }",
        timeout=WAIT_MS,
    )


def test_marking_false_and_drawing_a_missed_ebike(live_hub: LiveHub, browser: Browser, artifacts_dir: Path) -> None:  # noqa: F811
    """Test that 误报 on the lift alarm stores a ``false`` mark, and that 报告漏检的电动车 → a pointer drag on the
    lane alarm's snapshot → 提交漏检 stores a ``missed`` mark whose box is where the drag was (fractions of the
    picture) with the chosen class; both are in the audit log, and the detail shows the current mark."""
    jpeg, dets = lift_snapshot()
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    try:
        live_hub.login(page, MANAGER)
        lift_event = publish_ebike(live_hub, dets)
        publish_snapshot(live_hub, lift_event, jpeg)
        lane_event = publish_lane(live_hub, dets)
        publish_snapshot(live_hub, lane_event, jpeg)
        ids = wait_for(lambda: (lambda a: a if len(a) == 2 else None)(_open_alarm_ids(live_hub)), what="two alarms")
        lift_alarm, lane_alarm = ids[LIFT_CAM], ids[LANE_CAM]

        open_alarm(page, "ebike_in_lift", lift_alarm)
        expect(page.locator("#mark-current")).to_have_text("尚未标注")
        page.locator("#mark-false").click()
        expect(page.locator("#mark-current")).to_have_attribute("data-verdict", "false", timeout=WAIT_MS)
        expect(page.locator("#mark-current")).to_contain_text("误报")

        open_alarm(page, "fire_lane_blocked", lane_alarm)
        page.locator("#mark-missed").click()
        expect(page.locator("#mark-layer")).to_be_visible()
        page.locator("#mark-class").select_option("ebike")
        box = page.locator("#alarm-snapshot").bounding_box()
        assert box is not None
        x0, y0 = box["x"] + 0.30 * box["width"], box["y"] + 0.40 * box["height"]
        x1, y1 = box["x"] + 0.60 * box["width"], box["y"] + 0.80 * box["height"]
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=4)
        page.mouse.move(x1, y1, steps=4)
        page.mouse.up()
        expect(page.locator("#mark-boxes li")).to_have_count(1)
        expect(page.locator("#mark-layer .mark-box")).to_have_count(1)
        page.screenshot(path=artifacts_dir / "marking.png")
        page.locator("#mark-submit").click()
        expect(page.locator("#mark-current")).to_have_attribute("data-verdict", "missed", timeout=WAIT_MS)
        expect(page.locator("#mark-layer")).to_be_hidden()

        with live_hub.db.session() as session:
            marks = {m.alarm_id: (m.verdict, m.boxes, m.by) for m in session.scalars(select(AlarmMark))}
            audited = list(session.scalars(select(AuditEntry.target).where(AuditEntry.action == "mark")))
        assert marks[lift_alarm] == ("false", [], MANAGER)
        verdict, boxes, by = marks[lane_alarm]
        assert verdict == "missed" and by == MANAGER and len(boxes) == 1 and boxes[0]["cls"] == "ebike"
        assert boxes[0]["box"] == pytest.approx([0.30, 0.40, 0.60, 0.80], abs=0.02)
        assert sorted(audited) == sorted([f"alarm:{lift_alarm}", f"alarm:{lane_alarm}"])
    finally:
        context.close()
