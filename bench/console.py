"""The console and the site plan at scale, in Debian's Chromium: N alarms stored (most of them resolved, some open),
R new critical alarms a second arriving through the hub's own ingest pipeline while the pages are open.

Measured: first contentful paint and "data on screen" (console: its first alarm row; site plan: the plan drawn
with its markers, ``body[data-ready]``) of each page, loaded while alarms arrive; the console's next page of 100
after its list is scrolled to the end, in the browser, and ``GET /api/v1/alarms?order=attention`` pages 1, 10 and
100 (keyset cursor) before the arrivals; and, on the site plan, the time
from an alarm's commit (``MessagePipeline.process`` returned: the transaction is committed) to its marker in the
DOM (a MutationObserver stamps ``Date.now()``), p50/p99 over the run. Same machine, same wall clock.

    .venv/bin/python bench/console.py [--alarms 100000] [--open 300] [--rate 50] [--seconds 20] [--json]

No broker: events enter ``MessagePipeline.process`` as ingest hands them over after MQTT (what
``bench/hub_ingest.py`` measures is left out here).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from playwright.sync_api import Page, sync_playwright  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402

from compound import wire  # noqa: E402
from compound.config.loader import load_config  # noqa: E402
from hub.alarm_states import AlarmState  # noqa: E402
from hub.alarms.changes import AlarmChanges  # noqa: E402
from hub.alarms.service import AlarmService  # noqa: E402
from hub.db import Alarm, Database, default_url  # noqa: E402
from hub.ingest import Inbound, MessagePipeline  # noqa: E402
from hub.web import TokenSigner, WebContext, create_app  # noqa: E402
from tests.hub.web.conftest import ServedApp  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
SECRET = "bench-console-secret-key-0123456789abcdef"
MANAGER = "p-han-mei"

OBSERVE = """
window.__seen = {};
new MutationObserver((records) => {
  const now = Date.now();
  for (const r of records) for (const n of r.addedNodes) {
    if (n.nodeType === 1 && n.classList.contains("marker")) {
      const id = n.getAttribute("data-alarm-id");
      if (!(id in window.__seen)) window.__seen[id] = now;
    }
  }
}).observe(document.getElementById("plan"), { childList: true, subtree: true });
"""


def fill(db: Database, compound: Any, alarms: int, open_count: int, seed: int = 11) -> None:
    """``alarms`` rows over the last 60 days, the newest ``open_count`` still open, bulk-inserted."""
    rng = random.Random(seed)
    devices = [d for d in compound.devices.values() if d.type.value in ("smoke_detector", "gas_detector")]
    kinds = {"smoke_detector": "smoke", "gas_detector": "gas"}
    now = datetime.now(UTC)
    start = now - timedelta(days=60)
    step = (now - start) / max(1, alarms)
    batch: list[dict[str, Any]] = []
    with db.session() as session:
        open_devices = rng.sample(devices, min(open_count, len(devices)))  # one open alarm per device and kind
        for i in range(alarms):
            raised = start + step * i
            is_open = i >= alarms - len(open_devices)
            d = open_devices[i - (alarms - len(open_devices))] if is_open else rng.choice(devices)
            batch.append(
                {
                    "kind": kinds[d.type.value] if is_open or rng.random() < 0.7 else "low_battery",
                    "severity": rng.choice(("critical", "warning", "info")),
                    "state": AlarmState.NOTIFIED if is_open else AlarmState.RESOLVED,
                    "compound": compound.id,
                    "edge": d.edge,
                    "device": d.id,
                    "building": d.building,
                    "unit": d.unit,
                    "floor": d.floor,
                    "flat": d.flat,
                    "place": d.place,
                    "grid": compound.grid_of(d),
                    "raised_event_id": uuid.uuid4().hex,
                    "raised_at": raised,
                    "resolved_at": None if is_open else raised + timedelta(minutes=20),
                    "updated_at": raised + timedelta(minutes=20),
                    "drill": False,
                    "flapping": False,
                }
            )
            if len(batch) == 5000:
                session.execute(insert(Alarm), batch)
                batch.clear()
        if batch:
            session.execute(insert(Alarm), batch)
        session.commit()


class Arrivals(threading.Thread):
    """New critical smoke alarms at ``rate`` a second through the pipeline; the commit time of each new id."""

    def __init__(self, db: Database, compound: Any, pipeline: MessagePipeline, rate: float) -> None:
        super().__init__(daemon=True)
        self.db, self.compound, self.pipeline, self.rate = db, compound, pipeline, rate
        self.committed: dict[int, float] = {}
        self.stop = threading.Event()
        self.seq = 0
        self.seqs: dict[str, int] = {}  # per edge: a gap would be chased as lost events

    def run(self) -> None:
        rng = random.Random(5)
        smoke = [d for d in self.compound.devices.values() if d.type.value == "smoke_detector"]
        with self.db.session() as session:
            last = int(session.scalar(select(func.max(Alarm.id))) or 0)
        next_at = time.monotonic()
        while not self.stop.is_set():
            d = rng.choice(smoke)
            self.seq += 1
            self.seqs[d.edge] = self.seqs.get(d.edge, 0) + 1
            msg = wire.Event(
                id=uuid.uuid4().hex,
                seq=self.seqs[d.edge],
                compound=self.compound.id,
                edge=d.edge,
                device=d.id,
                kind=wire.EventKind.SMOKE,
                state=wire.EventState.RAISED,
                severity=wire.Severity.CRITICAL,
                value=0.3,
                unit="dB/m",
                threshold=0.15,
                location=wire.Location(building=d.building, unit=d.unit, floor=d.floor, flat=d.flat, place=d.place),
                occurred_at=datetime.now(UTC),
            )
            topic = wire.topic(self.compound.id, d.edge, wire.MessageType.EVENT, d.id, prefix=self.compound.prefix)
            self.pipeline.process([Inbound(topic, wire.dump(msg), datetime.now(UTC))])
            done = time.time()
            with self.db.session() as session:
                newest = int(session.scalar(select(func.max(Alarm.id))) or 0)
            if newest > last:
                self.committed[newest] = done
                last = newest
            next_at += 1 / self.rate
            time.sleep(max(0.0, next_at - time.monotonic()))


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


SEARCHES: dict[str, dict[str, str | int]] = {
    "all": {},
    "building_kind": {"building": "b2", "kind": "smoke"},
    "flat": {"building": "b2", "unit": "u1", "flat": "1502"},
    "person": {"person": MANAGER},
    "page_1000": {"offset": 50_000},
}


def search_ms(url: str, token: str, repeat: int = 5) -> dict[str, float]:
    """Median time of ``GET /api/v1/history/alarms`` (total and a page of 50) per search, before arrivals."""
    out: dict[str, float] = {}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        for name, params in SEARCHES.items():
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                client.get("/api/v1/history/alarms", params=params).raise_for_status()
                times.append((time.perf_counter() - start) * 1000)
            out[f"search_{name}_ms"] = statistics.median(times)
    return out


CONSOLE_PAGES = (1, 10, 100)
"""Pages of the console's list (100 alarms each, ``order=attention``) timed: reached by walking the cursor."""


def console_pages_ms(url: str, token: str, repeat: int = 5) -> dict[str, float]:
    """Median time of ``GET /api/v1/alarms?order=attention&limit=100`` for pages 1, 10 and 100 (keyset cursor)."""
    out: dict[str, float] = {}
    cursors: dict[int, str | None] = {1: None}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        params = {"order": "attention", "limit": "100"}
        cursor: str | None = None
        for number in range(1, max(CONSOLE_PAGES)):
            response = client.get("/api/v1/alarms", params={**params, **({"cursor": cursor} if cursor else {})})
            response.raise_for_status()
            cursor = response.headers.get("X-Next-Cursor")
            cursors[number + 1] = cursor
        for number in CONSOLE_PAGES:
            after = cursors[number]
            query = {**params, **({"cursor": after} if after else {})}
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                client.get("/api/v1/alarms", params=query).raise_for_status()
                times.append((time.perf_counter() - start) * 1000)
            out[f"console_page_{number}_ms"] = statistics.median(times)
    return out


def scroll_pages_ms(page: Page, pages: int = 3) -> float:
    """Median time from scrolling the console's list to its end to the next page's rows in the DOM."""
    times = []
    for _ in range(pages):
        before = page.locator("#alarm-rows tr").count()
        start = time.perf_counter()
        page.locator(".list-pane").evaluate("pane => { pane.scrollTop = pane.scrollHeight; }")
        page.wait_for_function(f"document.querySelectorAll('#alarm-rows tr').length > {before}", timeout=60_000)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _fcp(page: Page) -> float:
    return float(
        page.evaluate("() => (performance.getEntriesByName('first-contentful-paint')[0] || {startTime: NaN}).startTime")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alarms", type=int, default=100_000)
    parser.add_argument("--open", type=int, default=300, help="how many of the stored alarms are still open")
    parser.add_argument("--rate", type=float, default=50.0, help="new alarms per second while measuring")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long alarms arrive on the site plan")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    compound = load_config(Path(__file__).resolve().parents[1] / "configs")
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(default_url(Path(tmp)))
        db.create()
        t0 = time.perf_counter()
        fill(db, compound, args.alarms, args.open)
        fill_s = time.perf_counter() - t0
        changes = AlarmChanges()
        pipeline = MessagePipeline(db, compound, changes=changes)
        service = AlarmService(db, compound, changes=changes)
        signer = TokenSigner(SECRET)
        served = ServedApp(create_app(WebContext(compound=compound, service=service, signer=signer))).start()
        arrivals = Arrivals(db, compound, pipeline, args.rate)
        figures: dict[str, Any] = {"alarms_stored": args.alarms, "open": args.open, "rate": args.rate, "fill_s": fill_s}
        figures.update(search_ms(served.url, signer.issue_for(compound, MANAGER)))
        figures.update(console_pages_ms(served.url, signer.issue_for(compound, MANAGER)))
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
                context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
                page = context.new_page()
                page.goto(f"{served.url}/login?next=/")
                page.fill("#token", signer.issue_for(compound, MANAGER))
                page.click("button[type=submit]")
                page.wait_for_url(f"{served.url}/")
                arrivals.start()
                time.sleep(1.0)
                for name, path, ready in (
                    ("console", "/", "#alarm-rows tr"),
                    ("siteplan", "/siteplan", "body[data-ready='1']"),
                ):
                    page.close()  # a fresh tab: first paint, not a navigation out of a busy page
                    page = context.new_page()
                    start = time.perf_counter()
                    page.goto(f"{served.url}{path}", wait_until="commit")
                    page.wait_for_selector(ready, state="attached", timeout=120_000)
                    figures[f"{name}_ready_ms"] = (time.perf_counter() - start) * 1000
                    figures[f"{name}_fcp_ms"] = _fcp(page)
                    if name == "console":  # the next pages of the list, loaded by scrolling, while alarms arrive
                        figures["console_scroll_page_ms"] = scroll_pages_ms(page)
                page.evaluate(OBSERVE)
                watch_from = time.time()
                events_from = arrivals.seq
                time.sleep(args.seconds)
                arrivals.stop.set()
                arrivals.join(10)
                events = arrivals.seq - events_from
                time.sleep(2.0)
                seen: dict[str, float] = page.evaluate("window.__seen")
                browser.close()
        finally:
            arrivals.stop.set()
            served.stop()
            db.dispose()
    latencies = [
        seen[str(i)] - committed * 1000
        for i, committed in arrivals.committed.items()
        if committed >= watch_from and str(i) in seen
    ]
    measured = [i for i, c in arrivals.committed.items() if c >= watch_from]
    figures.update(
        new_alarms=len(measured),
        markers_seen=len(latencies),
        commit_to_marker_p50_ms=_pct(latencies, 0.5),
        commit_to_marker_p99_ms=_pct(latencies, 0.99),
        commit_to_marker_mean_ms=statistics.fmean(latencies) if latencies else float("nan"),
        new_alarms_per_s=len(measured) / args.seconds,
        events_per_s=events / args.seconds,
    )
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    for key, value in figures.items():
        print(f"{key:28} {value:.1f}" if isinstance(value, float) else f"{key:28} {value}")


if __name__ == "__main__":
    main()
