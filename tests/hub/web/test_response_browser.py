"""The closed loop on a phone (390×844) in Debian's Chromium, against the whole hub (Mosquitto, ingest, the
notification dispatcher, SQLite, uvicorn): a smoke alarm published over MQTT is pushed; the micro-grid worker
opens the acknowledge link of the message (``/a/<token>``, signed by ``ActionTokens`` with the hub's own secret
key), sees the confirmation page and presses its button; on the worker page they mark 在路上, then 已到场 with a
photo, then resolve with a note. The 响应统计 page then shows that alarm's times (the same seconds the database
holds), and a drill alarm (a drill silence, created through the API) is counted apart, not in the figures; the
console's detail of the drill shows the 演练 badge and its escalation state.

Screenshots: ``test-artifacts/response-worker.png`` (the detail with escalation and deliveries) and
``test-artifacts/response-metrics.png``.
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import select

from compound import wire
from compound.config import Compound
from hub.db import Alarm, AlarmHistory, AlarmPhoto, Database, default_url
from hub.ingest import Ingestor
from hub.notify.cards import KIND_LABELS
from hub.notify.links import Action, ActionTokens
from hub.web import TokenSigner, hub_app, load_secret_key
from hub.web.auth import SECRET_ENV
from hub.web.routes.actions import TEXT as LINK_PAGE_TEXT
from tests.hub.helpers import Publisher
from tests.hub.web.conftest import ServedApp
from tests.hub.web.i18n_check import assert_all_from_table
from tests.hub.web.test_browser import CHROMIUM, CHROMIUM_ARGS, NAMES_ZH
from tests.servers import MosquittoServer
from tests.support import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.broker]

WORKER = "p-li-qiang"
MANAGER = "p-han-mei"
SMOKE = "b2-u1-1502-smoke"
DRILL = "b1-u1-101-smoke"
WAIT_MS = 15_000


@dataclass
class ResponseHub:
    compound: Compound
    url: str
    db: Database
    signer: TokenSigner
    links: ActionTokens
    publisher: Publisher
    seq: int = 0

    def publish(self, device_id: str) -> None:
        device = self.compound.devices[device_id]
        self.seq += 1
        msg = wire.Event(
            id=uuid.uuid4().hex,
            seq=self.seq,
            compound=self.compound.id,
            edge=device.edge,
            device=device_id,
            kind=wire.EventKind.SMOKE,
            state=wire.EventState.RAISED,
            severity=wire.Severity.CRITICAL,
            value=0.31,
            unit="dB/m",
            threshold=0.15,
            location=wire.Location(
                building=device.building, unit=device.unit, floor=device.floor, flat=device.flat, place=device.place
            ),
            occurred_at=datetime.now(UTC),
        )
        topic = wire.topic(
            self.compound.id, device.edge, wire.MessageType.EVENT, device_id, prefix=self.compound.prefix
        )
        self.publisher.publish(topic, wire.dump(msg))

    def alarm(self, device: str) -> Alarm | None:
        with self.db.session() as session:
            found = session.scalars(select(Alarm).where(Alarm.device == device)).first()
            if found is not None:
                session.expunge(found)
            return found

    def login(self, page: Page, person_id: str, path: str) -> None:
        page.goto(f"{self.url}/login?next={path}")
        page.fill("#token", self.signer.issue_for(self.compound, person_id))
        page.click("button[type=submit]")
        page.wait_for_url(f"{self.url}{path}")

    def api(self, person_id: str) -> httpx.Client:
        token = self.signer.issue_for(self.compound, person_id)
        return httpx.Client(
            base_url=self.url, timeout=20.0, headers={"Authorization": f"Bearer {token}", "Origin": self.url}
        )


@pytest.fixture
def response_hub(
    mosquitto: MosquittoServer, compound: Compound, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ResponseHub]:
    """The hub as ``compound hub`` runs it, with its notification dispatcher (Web Push and the inbox)."""
    monkeypatch.delenv(SECRET_ENV, raising=False)
    data_dir = tmp_path / "data"
    db = Database(default_url(data_dir))
    ingestor = Ingestor(db, compound, host=mosquitto.host, port=mosquitto.port, broker_kind="mosquitto")
    served = ServedApp(hub_app(ingestor, data_dir=data_dir)).start()
    publisher = Publisher(mosquitto.host, mosquitto.port)
    try:
        assert ingestor.subscribed.wait(20), "hub did not subscribe"
        secret = load_secret_key(data_dir)
        yield ResponseHub(
            compound,
            served.url,
            db,
            TokenSigner(secret),
            ActionTokens(secret, served.url, ttl_s=compound.escalation.link_ttl_s),
            publisher,
        )
    finally:
        publisher.close()
        served.stop()
        db.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


LINK_PAGE_TABLES = [LINK_PAGE_TEXT, {kind: zh for kind, (zh, _) in KIND_LABELS.items()}]
"""The action link page's words: its own table and the kind labels of the pushed cards (it loads no common.js)."""


def _photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 60, 40)).save(out, format="JPEG", quality=80)
    return out.getvalue()


def _state(hub: ResponseHub, device: str) -> str | None:
    alarm = hub.alarm(device)
    return None if alarm is None else alarm.state.value


def test_acknowledge_from_link_then_on_my_way_on_site_resolve_and_metrics(
    response_hub: ResponseHub,
    browser: Browser,
    artifacts_dir: Path,
    tmp_path: Path,
) -> None:
    """Test the whole loop at 390×844 and that the metrics page shows this alarm's times but not the drill's."""
    hub = response_hub
    # A drill silence on one detector in 1号楼, made by the property manager through the API.
    now = datetime.now(UTC)
    with hub.api(MANAGER) as client:
        made = client.post(
            "/api/v1/silences",
            json={
                "device": DRILL,
                "starts_at": (now - timedelta(minutes=1)).isoformat(),
                "ends_at": (now + timedelta(hours=1)).isoformat(),
                "reason": "消防演练",
                "drill": True,
            },
        )
        assert made.status_code == 201, made.text

    hub.publish(SMOKE)
    wait_for(lambda: _state(hub, SMOKE) == "notified", timeout=20, what="the smoke alarm was not pushed")
    alarm = hub.alarm(SMOKE)
    assert alarm is not None and not alarm.drill

    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        # The acknowledge link of the message: GET asks (and does nothing), the button POSTs.
        link = hub.links.url(hub.links.issue(WORKER, alarm.id, Action.ACK))
        assert re.fullmatch(rf"{re.escape(hub.url)}/a/[A-Za-z0-9_.\-]+", link)
        page.goto(link)
        button = page.locator("form button[type=submit]")
        expect(button).to_have_text("确认接警")
        expect(page.locator("main p").first).to_have_text(f"告警 {alarm.id}：烟雾报警（2号楼 1单元 1502室）")
        assert_all_from_table(page, NAMES_ZH, tables=LINK_PAGE_TABLES, at_least=3)  # before signing in
        assert _state(hub, SMOKE) == "notified", "opening the link must not acknowledge"
        button.click()
        expect(page.locator("h1")).to_have_text("已确认接警", timeout=WAIT_MS)
        assert_all_from_table(page, NAMES_ZH, tables=LINK_PAGE_TABLES, at_least=3)
        assert _state(hub, SMOKE) == "acknowledged"
        page.goto(link)
        page.locator("form button[type=submit]").click()
        expect(page.locator("body")).to_contain_text("已经用过", timeout=WAIT_MS)

        # On the worker page: on my way, on site with a photo, resolved with a note.
        hub.login(page, WORKER, "/worker")
        card = page.locator(f'#cards li[data-alarm-id="{alarm.id}"]')
        expect(card).to_have_attribute("data-state", "acknowledged", timeout=WAIT_MS)
        card.click()
        head = page.locator(f'.d-head[data-alarm-id="{alarm.id}"]')
        expect(head).to_be_visible(timeout=WAIT_MS)
        expect(page.locator("#esc-policy")).to_have_attribute("data-policy", "fire-gas")
        expect(page.locator("#esc-policy")).to_contain_text("火警与燃气")
        expect(page.locator("#plan-steps li").first).to_be_visible()  # the fire plan (预案) from escalation.yaml
        expect(page.locator("#deliveries")).to_have_attribute("data-state", "ok", timeout=WAIT_MS)
        expect(page.locator('#deliveries li.job[data-state="delivered"]').first).to_be_visible(timeout=WAIT_MS)
        expect(page.locator("#deliveries .tries li[data-ok='1']").first).to_be_visible()
        assert_all_from_table(page, alarm=alarm.id)  # escalation, deliveries, history notes: all from the tables

        page.click("#on-my-way")
        expect(head).to_have_attribute("data-state", "on_my_way", timeout=WAIT_MS)
        expect(page.locator(".d-head .state-on_my_way")).to_have_text("在路上")

        photo = _photo()
        photo_file = tmp_path / "site.jpg"
        photo_file.write_bytes(photo)
        page.set_input_files("#on-site-photo", photo_file)
        page.fill("#on-site-note", "已到场，厨房锅烧干冒烟")
        page.click("#on-site")
        expect(head).to_have_attribute("data-state", "on_site", timeout=WAIT_MS)
        expect(page.locator(".d-head .state-on_site")).to_have_text("已到场")
        assert_all_from_table(page, ["已到场，厨房锅烧干冒烟"], alarm=alarm.id)
        page.screenshot(path=str(artifacts_dir / "response-worker.png"), full_page=True)
        with hub.db.session() as session:
            photos = list(session.scalars(select(AlarmPhoto).where(AlarmPhoto.alarm_id == alarm.id)))
            assert [(p.person_id, p.content_type, p.size) for p in photos] == [(WORKER, "image/jpeg", len(photo))]

        page.click("#resolve")
        expect(page.locator(".action-status")).to_have_text("请填写处理说明")
        page.fill("#resolve-note", "锅已移开，开窗通风，无人受伤")
        page.click("#resolve")
        expect(head).to_have_attribute("data-state", "resolved", timeout=WAIT_MS)

        # The drill: raised under the drill silence, acknowledged and resolved — it must not count.
        hub.publish(DRILL)
        wait_for(lambda: hub.alarm(DRILL) is not None, timeout=20, what="the drill alarm was not raised")
        drill = hub.alarm(DRILL)
        assert drill is not None and drill.drill
        with hub.api(MANAGER) as client:
            assert client.post(f"/api/v1/alarms/{drill.id}/acknowledge", json={}).status_code == 200
            assert client.post(f"/api/v1/alarms/{drill.id}/resolve", json={"note": "演练结束"}).status_code == 200

        done = hub.alarm(SMOKE)
        assert done is not None and done.acknowledged_at and done.on_site_at and done.resolved_at
        ack_s = (done.acknowledged_at - done.raised_at).total_seconds()
        site_s = (done.on_site_at - done.raised_at).total_seconds()
        resolve_s = (done.resolved_at - done.raised_at).total_seconds()
        history = [(h.action, h.actor) for h in _history(hub, done.id)]
        assert ("acknowledge", WORKER) in history and ("on_my_way", WORKER) in history
        assert ("on_site", WORKER) in history and ("resolve", WORKER) in history

        # 响应统计, as the property manager: this alarm's times; the drill counted apart.
        hub.login(page, MANAGER, "/metrics")
        expect(page.locator("body")).to_have_attribute("data-loaded", "1", timeout=WAIT_MS)
        total = page.locator('#m-grid-rows tr[data-scope="total"]')
        expect(total.locator('[data-col="alarms"]')).to_have_text("1")
        expect(total.locator('[data-col="drills"]')).to_have_text("1")
        grid = page.locator('#m-grid-rows tr[data-key="mg-b2-u1"]')
        expect(grid).to_contain_text("2号楼1单元微网格")
        assert page.locator('#m-grid-rows tr[data-key="mg-b1-u1"] [data-col="alarms"]').inner_text() == "0"
        worker = page.locator(f'#m-worker-rows tr[data-key="{WORKER}"]')
        expect(worker).to_contain_text("李强")
        for col, seconds in (("ack", ack_s), ("on_site", site_s), ("resolve", resolve_s)):
            cell = worker.locator(f'[data-col="{col}"]')
            assert float(cell.get_attribute("data-p50") or "nan") == pytest.approx(seconds, abs=1e-3), col
            assert float(cell.get_attribute("data-p90") or "nan") == pytest.approx(seconds, abs=1e-3), col
        expect(worker.locator('[data-col="level1"]')).to_contain_text("100%")
        expect(worker.locator('[data-col="in_time"]')).to_contain_text("1/1")
        expect(worker.locator('[data-col="closed"]')).to_contain_text("100%")
        assert page.locator(f'#m-worker-rows tr[data-key="{MANAGER}"] [data-col="alarms"]').inner_text() == "0"
        csv_href = page.locator("#m-csv").get_attribute("href") or ""
        assert csv_href.startswith("/api/v1/metrics/response.csv?from=")
        assert_all_from_table(page)
        page.screenshot(path=str(artifacts_dir / "response-metrics.png"), full_page=True)

        # The console's detail of the drill: the 演练 badge and its escalation state.
        page.goto(f"{hub.url}/")
        drill_row = page.locator(f'#alarm-rows tr[data-alarm-id="{drill.id}"]')
        expect(drill_row).to_be_visible(timeout=WAIT_MS)
        drill_row.click()
        expect(page.locator("#badge-drill")).to_have_text("演练", timeout=WAIT_MS)
        expect(page.locator("#esc-level")).to_contain_text("第 0 级")
        expect(page.locator("#deliveries")).to_have_attribute("data-state", "ok", timeout=WAIT_MS)
        expect(page.locator("#detail .history")).to_contain_text("演练：静默规则")  # the escalation note, as data
        assert_all_from_table(page, ["消防演练", "演练结束"], alarm=drill.id)
        switch = page.locator("#lang")  # at 390 px the console's nav links lie over the switch: click it by script
        switch.evaluate("button => button.click()")
        expect(page.locator("#detail .history")).to_contain_text("drill: silence rule")
        assert_all_from_table(page, [*NAMES_ZH, "消防演练", "演练结束"], "en", alarm=drill.id)
        switch.evaluate("button => button.click()")
        page.goto(f"{hub.url}/metrics")
        expect(page.locator("body")).to_have_attribute("data-loaded", "1", timeout=WAIT_MS)

        # English switch: the same page, the labels translated.
        page.click("#lang")
        expect(page.locator("h2").first).to_have_text("By grid")
        expect(total.locator("td").first).to_have_text("Total")
        assert errors == []
    finally:
        context.close()


def _history(hub: ResponseHub, alarm_id: int) -> list[AlarmHistory]:
    with hub.db.session() as session:
        rows = list(session.scalars(select(AlarmHistory).where(AlarmHistory.alarm_id == alarm_id)))
        session.expunge_all()
    return rows
