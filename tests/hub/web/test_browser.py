"""Browser tests: Debian's Chromium through Playwright against a real hub (Mosquitto, ingest, SQLite, uvicorn).

An event published over MQTT must appear on the console live, without a reload; acknowledge and
resolve-with-note change the state on screen; the grid worker's phone page shows only their alarm.
Screenshots land in ``test-artifacts/`` (``console.png`` is the README's).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from compound import wire
from compound.config import Compound
from compound.config.models import Role
from hub.db import Database, default_url
from hub.ingest import Ingestor
from hub.ingest.validate import DEAD_LETTER_REASONS
from hub.web import TokenSigner, hub_app, load_secret_key
from hub.web.auth import SECRET_ENV
from tests.hub.helpers import Publisher
from tests.hub.web.conftest import ServedApp
from tests.hub.web.i18n_check import assert_all_from_table
from tests.servers import MosquittoServer
from tests.support import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.broker]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 15_000
DOCS = Path(__file__).resolve().parents[3] / "docs"
SMOKE_TEXT = "smoke 0.310 dB/m at b2/u1/1502, above 0.15 dB/m for 20 s"
"""What the edge's smoke rule writes in an event's ``message`` (English, for logs): never shown as is in the UI."""
NAMES_ZH = ["1号楼", "2号楼", "3号楼", "4号楼", "阳光幼儿园"]
"""Names from the config, Chinese in the English UI too."""


@dataclass
class LiveHub:
    """A running hub (ingest + API + console) and what the tests need to drive it."""

    compound: Compound
    url: str
    db: Database
    signer: TokenSigner
    publisher: Publisher
    seq: int = 0

    def publish(
        self,
        device_id: str,
        kind: wire.EventKind = wire.EventKind.SMOKE,
        severity: wire.Severity = wire.Severity.CRITICAL,
        value: float | None = 0.31,
        unit: str = "dB/m",
        threshold: float | None = 0.15,
        message: str | None = None,
    ) -> None:
        """Publish a raise event for a device, over MQTT, as its edge agent would (``message``: its English text)."""
        device = self.compound.devices[device_id]
        self.seq += 1
        msg = wire.Event(
            id=uuid.uuid4().hex,
            seq=self.seq,
            compound=self.compound.id,
            edge=device.edge,
            device=device_id,
            kind=kind,
            state=wire.EventState.RAISED,
            severity=severity,
            value=value,
            unit=unit,
            threshold=threshold,
            location=wire.Location(
                building=device.building, unit=device.unit, floor=device.floor, flat=device.flat, place=device.place
            ),
            occurred_at=datetime.now(UTC),
            message=message,
        )
        topic = wire.topic(
            self.compound.id, device.edge, wire.MessageType.EVENT, device_id, prefix=self.compound.prefix
        )
        self.publisher.publish(topic, wire.dump(msg))

    def login(self, page: Page, person_id: str, path: str = "/") -> None:
        """Sign in through the login form with a token for ``person_id``."""
        page.goto(f"{self.url}/login?next={path}")
        page.fill("#token", self.signer.issue_for(self.compound, person_id))
        page.click("button[type=submit]")
        page.wait_for_url(f"{self.url}{path}")
        expect(page.locator("#live")).to_have_attribute("data-status", "live", timeout=WAIT_MS)


@pytest.fixture
def live_hub(
    mosquitto: MosquittoServer, compound: Compound, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveHub]:
    """The hub as ``compound hub`` runs it (ingest in the app lifespan), on Mosquitto and a SQLite file."""
    monkeypatch.delenv(SECRET_ENV, raising=False)
    data_dir = tmp_path / "data"
    db = Database(default_url(data_dir))
    ingestor = Ingestor(db, compound, host=mosquitto.host, port=mosquitto.port, broker_kind="mosquitto")
    served = ServedApp(hub_app(ingestor, data_dir=data_dir)).start()
    publisher = Publisher(mosquitto.host, mosquitto.port)
    try:
        assert ingestor.subscribed.wait(20), "hub did not subscribe"
        yield LiveHub(compound, served.url, db, TokenSigner(load_secret_key(data_dir)), publisher)
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


def _open_alarm_ids(hub: LiveHub) -> dict[str, int]:
    from sqlalchemy import select

    from hub.db import Alarm

    with hub.db.session() as session:
        return {a.device: a.id for a in session.scalars(select(Alarm))}


def _dead_letter_count(hub: LiveHub) -> int:
    from sqlalchemy import func, select

    from hub.db import DeadLetter

    with hub.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(DeadLetter)) or 0)


def test_console_shows_a_new_alarm_live_and_closes_it(live_hub: LiveHub, browser: Browser, artifacts_dir: Path) -> None:
    """Test that a smoke event published over MQTT appears live on the console, is acknowledged and resolved."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    try:
        live_hub.login(page, "p-han-mei")
        # Some older alarms elsewhere, so the console has the look of a working day.
        live_hub.publish("b4-u3-2304-smoke", wire.EventKind.LOW_BATTERY, wire.Severity.INFO, 12, "%", 15)
        live_hub.publish("b3-u1-601-gas", wire.EventKind.GAS_PRE_ALARM, wire.Severity.WARNING, 11.8, "%LEL", 10)
        live_hub.publish("b1-u2-1201-door", wire.EventKind.CARE_INACTIVE, wire.Severity.WARNING, 30120, "s", 28800)
        expect(page.locator("#alarm-rows tr")).to_have_count(3, timeout=WAIT_MS)
        page.evaluate("window.__noReload = 'still here'")

        # The edge's own text is English; the console words the message from the kind and figures instead.
        live_hub.publish("b2-u1-1502-smoke", message=SMOKE_TEXT)
        row = page.locator('#alarm-rows tr[data-kind="smoke"]')
        expect(row).to_have_count(1, timeout=WAIT_MS)
        expect(row).to_contain_text("1502")
        expect(row).to_contain_text("0.310 dB/m")
        assert page.evaluate("window.__noReload") == "still here", "the page was reloaded"
        alarm_id = wait_for(lambda: _open_alarm_ids(live_hub).get("b2-u1-1502-smoke"), what="smoke alarm stored")
        expect(row).to_have_attribute("data-alarm-id", str(alarm_id))

        row.click()
        detail = page.locator("#detail")
        expect(detail.locator(".d-head")).to_have_attribute("data-alarm-id", str(alarm_id), timeout=WAIT_MS)
        expect(detail).to_contain_text("张建国")  # the household, shown to a property manager
        expect(detail.locator(".routes li")).to_have_count(2)
        # Routing reasons in the reader's language, from the router's data (not its English sentence).
        expect(detail.locator(".routes li .why").first).to_contain_text("值班")
        expect(detail.locator(".routes")).not_to_contain_text("on duty")
        expect(detail.locator(".d-message")).to_have_text("烟雾浓度 0.310 dB/m，超过阈值 0.150 dB/m")
        worded = page.evaluate(
            """async () => {
              const { fmtEventMessage } = await import("/static/common.js");
              return [
                fmtEventMessage("thrown_object", "raised", { value: 15, unit: "floor" }, "Object thrown from floor 15"),
                fmtEventMessage("gas_pre_alarm", "cleared", { value: 4, unit: "%LEL", threshold: 8 }, "gas cleared"),
                fmtEventMessage("a_kind_not_worded", "raised", { value: 1 }, "the edge's own text"),
              ];
            }"""
        )
        assert worded == [
            "外立面摄像头看到物体从约 15 层的窗口坠落",
            "燃气浓度已降到 8.0 %LEL 以下",
            "the edge's own text",  # a kind the tables do not word: the wire message
        ]
        expect(detail.locator(".history")).to_contain_text("已派单给")  # the routing step, worded from its data
        assert_all_from_table(page, alarm=alarm_id)  # the console with a detail open: nothing but the table and data
        page.screenshot(path=artifacts_dir / "console.png")
        page.screenshot(path=DOCS / "console.png")

        page.fill("#ack-note", "已电话联系住户，安保前往")
        page.click("#ack")
        expect(row).to_have_attribute("data-state", "acknowledged", timeout=WAIT_MS)
        expect(detail.locator(".d-head")).to_have_attribute("data-state", "acknowledged", timeout=WAIT_MS)
        page.screenshot(path=artifacts_dir / "console-acknowledged.png")

        page.click("#resolve")  # without a note: refused in the page, nothing sent
        expect(detail.locator(".action-status")).to_have_text("请填写处理说明")
        page.fill("#resolve-note", "厨房煎锅起烟，已关火通风，无人员受伤")
        page.click("#resolve")
        expect(row).to_have_attribute("data-state", "resolved", timeout=WAIT_MS)
        expect(detail.locator(".history")).to_contain_text("厨房煎锅起烟，已关火通风，无人员受伤")
        expect(detail.locator("#resolve")).to_have_count(0)
        page.screenshot(path=artifacts_dir / "console-resolved.png")

        # Garbage on the broker shows up on the dead-letters page, with its reason.
        topic = wire.topic(live_hub.compound.id, "b2", wire.MessageType.EVENT, "b2-u1-1502-smoke")
        live_hub.publisher.publish(topic, b"{smoke: yes")
        wait_for(lambda: _dead_letter_count(live_hub) == 1, what="the dead letter stored")
        page.click("#nav-dead-letters")
        expect(page.locator('#letter-rows tr[data-reason="not_json"]')).to_have_count(1, timeout=WAIT_MS)
        expect(page.locator("#letter-rows")).to_contain_text("{smoke: yes")
        expect(page.locator('#letter-rows tr[data-reason="not_json"] .reason')).to_have_text("不是 JSON")
        assert_all_from_table(page, [topic, "{smoke: yes"])  # the refused message's topic and bytes are data
        unworded = page.evaluate(
            """async (reasons) => {
              const { I18N } = await import("/static/common.js");
              return reasons.filter((r) => !(`dl.why.${r}` in I18N.zh && `dl.why.${r}` in I18N.en));
            }""",
            list(DEAD_LETTER_REASONS),
        )
        assert unworded == [], f"dead-letter reasons without words in common.js: {unworded}"
        page.screenshot(path=artifacts_dir / "dead-letters.png")
        page.go_back()

        # The English switch re-renders the page in place and is remembered.
        page.click("#lang")
        expect(row).to_contain_text("Resolved")
        expect(detail.locator(".d-message")).to_have_text("smoke 0.310 dB/m, above the threshold of 0.150 dB/m")
        typed = ["已电话联系住户，安保前往", "厨房煎锅起烟，已关火通风，无人员受伤"]  # the notes typed above: data
        assert_all_from_table(page, [*NAMES_ZH, *typed], "en", alarm=alarm_id)
        page.reload()
        expect(page.locator("#alarm-rows tr").first).to_be_visible(timeout=WAIT_MS)
        expect(page.locator('#alarm-rows tr[data-kind="smoke"]')).to_contain_text("Smoke")
        page.screenshot(path=artifacts_dir / "console-en.png")
    finally:
        context.close()


def test_worker_page_shows_only_their_alarm_and_acknowledges_it(
    live_hub: LiveHub, browser: Browser, artifacts_dir: Path
) -> None:
    """Test that the on-duty micro-grid worker's 390×844 page shows their alarm only, live, and can acknowledge it."""
    compound = live_hub.compound
    on_duty = compound.on_duty(Role.MICRO_GRID_WORKER, "mg-b2-u1", datetime.now(UTC))
    assert len(on_duty) == 1
    worker = on_duty[0]
    other_device = "b3-u1-601-smoke"
    assert compound.grid_of(compound.devices[other_device]) not in worker.grids

    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="zh-CN"
    )  # zh-CN: the browser's own controls (the photo picker) speak Chinese too
    page = context.new_page()
    try:
        page.goto(f"{live_hub.url}/login?next=/worker")
        assert_all_from_table(page, at_least=4)  # the sign-in page, before anyone is signed in
        live_hub.login(page, worker.id, "/worker")
        live_hub.publish(other_device)  # another grid: must never reach this worker
        live_hub.publish("b2-u1-1502-smoke")
        cards = page.locator("#cards li")
        expect(cards).to_have_count(1, timeout=WAIT_MS)
        expect(cards.first).to_contain_text("1502")
        ids = wait_for(lambda: len(_open_alarm_ids(live_hub)) == 2 and _open_alarm_ids(live_hub), what="both alarms")
        assert isinstance(ids, dict)
        expect(cards.first).to_have_attribute("data-alarm-id", str(ids["b2-u1-1502-smoke"]))
        page.reload()  # after a reload too, the list holds their alarm only
        expect(cards).to_have_count(1, timeout=WAIT_MS)
        assert_all_from_table(page, alarm=ids["b2-u1-1502-smoke"])
        page.screenshot(path=artifacts_dir / "worker-list.png")

        cards.first.click()
        view = page.locator("#detail-view")
        expect(view).to_contain_text("张建国")
        assert_all_from_table(page, alarm=ids["b2-u1-1502-smoke"])
        page.screenshot(path=artifacts_dir / "worker-detail.png")
        page.screenshot(path=DOCS / "worker.png")
        page.click("#ack")
        expect(view.locator(".d-head")).to_have_attribute("data-state", "acknowledged", timeout=WAIT_MS)
        page.screenshot(path=artifacts_dir / "worker-acknowledged.png")
        page.click(".back")
        expect(cards.first).to_have_attribute("data-state", "acknowledged")
        expect(cards).to_have_count(1)
    finally:
        context.close()
