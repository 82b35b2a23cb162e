"""Two consoles on two hub replicas (separate processes, one PostgreSQL): each shows every change live, whichever
replica made it. Replica A ingests (``--role all``); replica B serves only the API and console (``--role api``,
no broker): an alarm raised through A appears on B's console without a reload, acknowledged on B it changes on
A's, resolved on A it changes on B's (``pg_notify`` in the committing transaction, ``LISTEN`` on each replica)."""

from __future__ import annotations

import re
import secrets
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from compound import wire
from compound.config import Compound
from hub.web import TokenSigner
from hub.web.auth import SECRET_ENV
from tests.hub.helpers import Publisher, event_topic, make_event
from tests.hub.test_postgres import postgres_url  # noqa: F401  (fixture)
from tests.hub.test_replicas import ready, spawn_replica
from tests.hub.web.test_browser import WAIT_MS, browser  # noqa: F401  (fixture)
from tests.servers import MosquittoServer

pytestmark = [pytest.mark.browser, pytest.mark.broker, pytest.mark.slow]

SMOKE = "b2-u1-1502-smoke"
MANAGER = "p-han-mei"


def _console_url(log: str) -> str:
    found = re.search(r"console: (http://\S+)/ ", log)
    assert found, log[-2000:]
    return found.group(1)


def _login(page: Page, url: str, token: str) -> None:
    page.goto(f"{url}/login?next=/")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")
    expect(page.locator("#live")).to_have_attribute("data-status", "live", timeout=WAIT_MS)


@pytest.fixture
def two_replicas(
    postgres_url: str,  # noqa: F811
    mosquitto: MosquittoServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[str, str, TokenSigner]]:
    """Replica A (ingest, API, console) and replica B (API and console only) on one PostgreSQL, sharing one
    signing key through the environment; their console URLs and a token signer."""
    key = secrets.token_urlsafe(48)
    monkeypatch.setenv(SECRET_ENV, key)  # the replicas inherit it: a token or session works on either
    a = spawn_replica(mosquitto, postgres_url, tmp_path, "a", "--no-edge-supervision")
    b = spawn_replica(mosquitto, postgres_url, tmp_path, "b", "--role", "api")
    try:
        url_a = _console_url(ready(a))
        log_b = ready(b, "listening for other replicas' alarm changes")
        assert "hub ingest" not in log_b, "the api replica must not ingest"
        yield url_a, _console_url(log_b), TokenSigner(key)
    finally:
        for proc, _, _ in (a, b):
            proc.send_signal(signal.SIGTERM)
        for proc, _, _ in (a, b):
            proc.wait(timeout=30)


def test_consoles_on_two_replicas_show_every_change_live(
    two_replicas: tuple[str, str, TokenSigner],
    browser: Browser,  # noqa: F811
    mosquitto: MosquittoServer,
    compound: Compound,
    artifacts_dir: Path,
) -> None:
    """Test that an alarm raised through the ingesting replica appears live on both consoles (and its delivery), that an
    acknowledgement on the API-only replica shows on the other console, and a resolve there on this one."""
    url_a, url_b, signer = two_replicas
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    publisher = Publisher(mosquitto.host, mosquitto.port)
    try:
        page_a, page_b = context.new_page(), context.new_page()
        _login(page_a, url_a, signer.issue_for(compound, MANAGER))
        _login(page_b, url_b, signer.issue_for(compound, MANAGER))
        for page in (page_a, page_b):
            page.evaluate("window.__noReload = 'still here'")

        event = make_event(compound, SMOKE, seq=1)
        publisher.publish(event_topic(compound, event), wire.dump(event))
        rows = [page.locator('#alarm-rows tr[data-kind="smoke"]') for page in (page_a, page_b)]
        for row in rows:
            expect(row).to_have_count(1, timeout=WAIT_MS)
            # Then notified, by whichever replica's dispatcher claimed the jobs: both consoles show it.
            expect(row).to_have_attribute("data-state", "notified", timeout=WAIT_MS)
        alarm_id = rows[0].get_attribute("data-alarm-id")
        expect(rows[1]).to_have_attribute("data-alarm-id", str(alarm_id))

        rows[1].click()  # on replica B, which has no ingest at all
        page_b.fill("#ack-note", "B 副本上确认")
        page_b.click("#ack")
        for row in rows:
            expect(row).to_have_attribute("data-state", "acknowledged", timeout=WAIT_MS)

        rows[0].click()  # and resolved on replica A
        page_a.fill("#resolve-note", "已处理，A 副本上关闭")
        page_a.click("#resolve")
        for row in rows:
            expect(row).to_have_attribute("data-state", "resolved", timeout=WAIT_MS)
        page_b.screenshot(path=artifacts_dir / "console-replica-b.png")
        for page in (page_a, page_b):
            assert page.evaluate("window.__noReload") == "still here", "a console was reloaded"
    finally:
        publisher.close()
        context.close()
