"""Tests of ``GET /api/v1/devices/{id}/series`` over the real app and the embedded store."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from compound import wire
from compound.clock import ManualClock
from compound.config import Compound
from hub.alarms.service import AlarmService
from hub.db import Database, default_url
from hub.timeseries import TimeSeries, TimeseriesSettings, open_timeseries
from hub.web import TokenSigner, WebContext, create_app, make_server
from hub.web.routes.devices import attach_series

SECRET = "test-secret-key-for-series-tests-0123456789"
NOW = datetime(2026, 11, 23, 21, 0, tzinfo=UTC)
DEVICE = "b2-u1-1502-smoke"


@dataclass
class SeriesApp:
    client: httpx.Client
    signer: TokenSigner
    compound: Compound
    series: TimeSeries

    def get(self, path: str, person: str | None = "p-han-mei", **params: str) -> tuple[int, object]:
        headers = {"Authorization": f"Bearer {self.signer.issue_for(self.compound, person)}"} if person else {}
        response = self.client.get(path, params=params, headers=headers)
        return response.status_code, response.json()


@pytest.fixture
def app(tmp_path: Path, compound: Compound) -> Iterator[SeriesApp]:
    """The hub app with an embedded time-series store holding an hour of smoke readings before NOW."""
    db = Database(default_url(tmp_path / "hub"))
    db.create()
    series = open_timeseries(TimeseriesSettings(), tmp_path / "hub", compound=compound, clock=ManualClock(NOW))
    for i in range(60):
        value = 0.02 if i < 50 else 0.02 + 0.03 * (i - 49)  # a rise over the last ten minutes
        series.sink.reading(
            wire.Reading(
                compound=compound.id, edge="b2", device=DEVICE, quantity="smoke", value=value, unit="dB/m",
                battery=90.0, at=NOW - timedelta(minutes=59 - i),
            )
        )  # fmt: skip
    assert series.flush(timeout=30)
    signer = TokenSigner(SECRET)
    service = AlarmService(db, compound, clock=ManualClock(NOW))  # the hub's clock: "now" for the series route
    web = create_app(WebContext(compound=compound, service=service, signer=signer))
    attach_series(web, series.reader)
    started = threading.Event()
    server = make_server(web, host="127.0.0.1", port=0, on_started=lambda _url: started.set())
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), name="series-web", daemon=True)
    thread.start()
    try:
        assert started.wait(20), "web app did not start"
        with httpx.Client(base_url=server.url, timeout=20) as client:
            yield SeriesApp(client, signer, compound, series)
    finally:
        server.should_exit = True
        thread.join(30)
        series.close()
        db.dispose()


def test_series_of_a_window(app: SeriesApp) -> None:
    """Test that the window's readings come back in order with the main quantity chosen."""
    frm, to = (NOW - timedelta(minutes=30)).isoformat(), NOW.isoformat()
    code, body = app.get(f"/api/v1/devices/{DEVICE}/series", **{"from": frm, "to": to})
    assert code == 200, body
    assert isinstance(body, dict)
    assert body["quantity"] == "smoke" and set(body["quantities"]) == {"smoke", "battery"}
    values = [p["value"] for p in body["points"]]
    assert len(values) == 31 and values[0] == 0.02 and values[-1] == pytest.approx(0.02 + 0.03 * 10)
    assert datetime.fromisoformat(body["points"][-1]["at"]) == NOW
    window = (datetime.fromisoformat(body["from"]), datetime.fromisoformat(body["to"]))
    assert window == (NOW - timedelta(minutes=30), NOW)


def test_battery_and_downsampling(app: SeriesApp) -> None:
    """Test that another quantity can be asked for and max_points bounds the answer."""
    frm, to = (NOW - timedelta(hours=1)).isoformat(), NOW.isoformat()
    code, body = app.get(f"/api/v1/devices/{DEVICE}/series", quantity="battery", **{"from": frm, "to": to})
    assert code == 200 and isinstance(body, dict) and {p["value"] for p in body["points"]} == {90.0}
    code, body = app.get(f"/api/v1/devices/{DEVICE}/series", max_points="10", **{"from": frm, "to": to})
    assert code == 200 and isinstance(body, dict)
    assert 2 <= len(body["points"]) <= 10 and max(p["value"] for p in body["points"]) == pytest.approx(0.32)


def test_grid_visibility_and_errors(app: SeriesApp) -> None:
    """Test that a worker of another grid gets 404, no token 401, and a bad window 422."""
    path = f"/api/v1/devices/{DEVICE}/series"
    assert app.get(path, person="p-wang-li")[0] == 200  # micro-grid worker of mg-b2-u1
    assert app.get(path, person="p-liu-fang")[0] == 404  # micro-grid worker of mg-b1-u1
    assert app.get(path, person=None)[0] == 401
    assert app.get("/api/v1/devices/no-such-device/series")[0] == 404
    code, body = app.get(path, **{"from": NOW.isoformat(), "to": (NOW - timedelta(minutes=1)).isoformat()})
    assert code == 422 and "after" in str(body)
    code, body = app.get(path, **{"from": (NOW - timedelta(days=40)).isoformat(), "to": NOW.isoformat()})
    assert code == 422 and "31 days" in str(body)


def test_window_ends_at_the_hub_clock_and_span(app: SeriesApp) -> None:
    """Test that without 'to' the window ends at the hub's clock, and 'span' sets its length instead of 'from'."""
    path = f"/api/v1/devices/{DEVICE}/series"
    code, body = app.get(path)
    assert code == 200 and isinstance(body, dict)
    window = (datetime.fromisoformat(body["from"]), datetime.fromisoformat(body["to"]))
    assert window == (NOW - timedelta(minutes=30), NOW)
    assert len(body["points"]) == 31
    code, body = app.get(path, span="3600")
    assert code == 200 and isinstance(body, dict) and len(body["points"]) == 60
    assert datetime.fromisoformat(body["from"]) == NOW - timedelta(hours=1)
    code, body = app.get(path, span="600", to=(NOW - timedelta(minutes=10)).isoformat())
    assert code == 200 and isinstance(body, dict) and len(body["points"]) == 11
    assert app.get(path, span="60", **{"from": NOW.isoformat()})[0] == 422
    assert app.get(path, span="0")[0] == 422
    code, body = app.get(path, span=str(40 * 86400))
    assert code == 422 and "31 days" in str(body)


def test_device_endpoint(app: SeriesApp) -> None:
    """Test that GET /devices/{id} describes the device, its quantities and the hub's now, within the grids."""
    code, body = app.get(f"/api/v1/devices/{DEVICE}", person="p-wang-li")
    assert code == 200 and isinstance(body, dict)
    assert body["type"] == "smoke_detector" and body["edge"] == "b2" and body["grid"] == "mg-b2-u1"
    assert (body["building"], body["unit"], body["flat"], body["floor"]) == ("b2", "u1", "1502", 15)
    assert set(body["quantities"]) == {"smoke", "battery"}
    assert datetime.fromisoformat(body["now"]) == NOW
    assert app.get(f"/api/v1/devices/{DEVICE}", person="p-liu-fang")[0] == 404
    assert app.get(f"/api/v1/devices/{DEVICE}", person=None)[0] == 401
    assert app.get("/api/v1/devices/no-such-device")[0] == 404


@pytest.mark.browser
def test_chart_script_draws_the_curve_crossing_the_threshold(app: SeriesApp, artifacts_dir: Path) -> None:
    """Test that series.js, signed in by cookie, fetches the curve and draws it crossing the threshold line."""
    from playwright.sync_api import sync_playwright

    from hub.web.auth import SESSION_COOKIE

    url = str(app.client.base_url).rstrip("/")
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
    args += ["--disable-sync", "--no-first-run"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=args, headless=True)
        try:
            page = browser.new_page(viewport={"width": 800, "height": 400})
            page.context.add_cookies(
                [{"name": SESSION_COOKIE, "value": app.signer.issue_for(app.compound, "p-wang-li"), "url": url}]
            )
            page.goto(f"{url}/login", timeout=15_000)
            result = page.evaluate(
                """async ([device, from, to]) => {
                    const { loadSeries } = await import("/static/series.js");
                    const box = document.createElement("div");
                    box.id = "curve";
                    document.body.replaceChildren(box);
                    const data = await loadSeries(box, { device, from, to, threshold: 0.15, unit: "dB/m",
                                                         marker: new Date(to) });
                    const svg = box.querySelector("svg");
                    return { quantity: data.quantity, points: svg.dataset.points,
                             crosses: svg.dataset.crossesThreshold, line: !!svg.querySelector(".series-line"),
                             threshold: !!svg.querySelector(".series-threshold"),
                             marker: !!svg.querySelector(".series-marker") };
                }""",
                [DEVICE, (NOW - timedelta(minutes=30)).isoformat(), NOW.isoformat()],
            )
            page.locator("#curve").screenshot(path=str(artifacts_dir / "timeseries-curve.png"))
        finally:
            browser.close()
    assert result == {
        "quantity": "smoke", "points": "31", "crosses": "true", "line": True, "threshold": True, "marker": True,
    }  # fmt: skip
