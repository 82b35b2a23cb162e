"""Web Push in Debian's Chromium: the worker page enables push, the service worker shows a pushed alarm.

No push service is reachable from a test (and Chromium refuses ``pushManager.subscribe`` in an incognito
context such as Playwright's, "permission denied"), so the page's ``PushManager`` is given a stand-in subscription
whose keys the test made; everything else is real: the permission prompt answered by ``grant_permissions``,
``/sw.js`` registered at scope ``/``, the subscription POSTed to the hub and stored for the signed-in person. The
push itself goes in through the DevTools Protocol (``ServiceWorker.deliverPushMessage``), carrying exactly the
payload the webpush channel builds, and the notification the worker showed is read back with
``registration.getNotifications()``.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import Request, Response
from playwright.sync_api import Browser, CDPSession, Page, expect, sync_playwright
from sqlalchemy import select

from compound.config import Compound
from hub.alarms.changes import AlarmChanges
from hub.alarms.service import AlarmService
from hub.db import Database, PushSubscription
from hub.notify.card import ActionLinks
from hub.notify.channels import Message, Recipient
from hub.notify.channels.webpush import build_payload, encode_payload
from hub.web import TokenSigner, WebContext, create_app
from hub.web.routes.push import attach_vapid
from tests.hub.notify.test_webpush import make_card
from tests.hub.web.conftest import SECRET, ServedApp
from tests.hub.web.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.support import wait_for

pytestmark = pytest.mark.browser

PERSON = "p-han-mei"
ENDPOINT = "https://push.example.net/wpush/v2/test-subscription"
WAIT_MS = 15_000


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


STUB = """
(() => {
  const json = %s;
  const toB64url = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer)))
    .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
  let current = null;
  PushManager.prototype.subscribe = async function (options) {
    window.__pushKey = toB64url(options.applicationServerKey);
    current = { endpoint: json.endpoint, options: { applicationServerKey: options.applicationServerKey },
      toJSON: () => json, unsubscribe: async () => { current = null; return true; } };
    return current;
  };
  PushManager.prototype.getSubscription = async function () { return current; };
})();
"""
"""A stand-in for the browser's push service: ``subscribe`` returns the test's subscription (and notes the key)."""


@dataclass
class PushHub:
    url: str
    db: Database
    signer: TokenSigner
    compound: Compound
    public_key: str
    actions: list[tuple[str, str, str | None]]
    """Requests to the stand-in action links: method, token, ``Sec-Fetch-Site``."""


@pytest.fixture
def push_hub(hub_db: Database, compound: Compound, tmp_path: Path) -> Iterator[PushHub]:
    service = AlarmService(hub_db, compound, changes=AlarmChanges())
    signer = TokenSigner(SECRET)
    app = create_app(WebContext(compound=compound, service=service, signer=signer))
    keys = attach_vapid(app, tmp_path / "data")
    actions: list[tuple[str, str, str | None]] = []

    async def action(token: str, request: Request) -> Response:
        # A stand-in for the signed action links (their real route is another module's): what the worker sent.
        actions.append((request.method, token, request.headers.get("sec-fetch-site")))
        return Response(status_code=204)

    app.add_api_route("/test-actions/{token}", action, methods=["GET", "POST"], include_in_schema=False)
    served = ServedApp(app).start()
    try:
        yield PushHub(served.url, hub_db, signer, compound, keys.public_key, actions)
    finally:
        served.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def registration_id(cdp: CDPSession, page: Page, scope: str) -> str:
    """The service worker registration of ``scope``, from ``ServiceWorker.enable``'s events."""
    found: list[str] = []

    def updated(event: dict[str, Any]) -> None:
        found.extend(
            r["registrationId"] for r in event["registrations"] if r["scopeURL"] == scope and not r["isDeleted"]
        )

    cdp.on("ServiceWorker.workerRegistrationUpdated", updated)
    cdp.send("ServiceWorker.enable")
    for _ in range(60):  # events are dispatched while Playwright waits, not during time.sleep
        if found:
            return found[-1]
        page.wait_for_timeout(250)
    raise AssertionError(f"no service worker registration for {scope}")


def push(
    cdp: CDPSession,
    page: Page,
    scope: str,
    registration: str,
    payload: dict[str, Any],
    done: Callable[[list[dict[str, Any]]], bool],
    *,
    what: str,
) -> list[dict[str, Any]]:
    """Deliver ``payload`` as a push once the worker is active, until ``done(notifications shown)``.

    Under load Chromium can drop a ``deliverPushMessage`` that arrives while the worker is still starting, so the
    push is sent again (at most four times, 5 s apart); the notifications share one tag, so a repeat replaces and
    never adds one.
    """
    page.evaluate("async () => { await navigator.serviceWorker.ready; }")
    data = encode_payload(payload).decode()
    for _ in range(4):
        cdp.send("ServiceWorker.deliverPushMessage", {"origin": scope, "registrationId": registration, "data": data})
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            shown: list[dict[str, Any]] = page.evaluate(NOTIFICATIONS)
            if done(shown):
                return shown
            page.wait_for_timeout(100)
    raise AssertionError(f"timed out after 4 pushes waiting for {what}")


NOTIFICATIONS = """
async () => {
  const registration = await navigator.serviceWorker.getRegistration("/");
  const shown = await registration.getNotifications();
  return shown.map((n) => ({
    title: n.title, body: n.body, tag: n.tag, data: n.data, requireInteraction: n.requireInteraction,
    actions: n.actions.map((a) => [a.action, a.title]),
  }));
}
"""


CLICK = """
async (actions) => {
  const [notification] = await self.registration.getNotifications({ tag: "alarm-31" });
  for (const action of actions) {
    self.dispatchEvent(new NotificationEvent("notificationclick", { notification, action }));
  }
}
"""


def test_the_worker_page_enables_push_and_the_service_worker_shows_a_pushed_alarm(
    push_hub: PushHub, browser: Browser, artifacts_dir: Path
) -> None:
    """Test enabling push on the 390×844 worker page, then a pushed critical alarm shown with its two buttons."""
    p256dh = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    subscription: dict[str, Any] = {
        "endpoint": ENDPOINT,
        "expirationTime": None,
        "keys": {"p256dh": b64url(p256dh), "auth": b64url(os.urandom(16))},
    }
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="zh-CN"
    )
    context.grant_permissions(["notifications"], origin=push_hub.url)
    context.add_init_script(STUB % json.dumps(subscription))
    page = context.new_page()
    try:
        page.goto(f"{push_hub.url}/login?next=/worker")
        page.fill("#token", push_hub.signer.issue_for(push_hub.compound, PERSON))
        page.click("button[type=submit]")
        page.wait_for_url(f"{push_hub.url}/worker")
        button = page.locator("#push")
        expect(button).to_have_attribute("data-push", "off", timeout=WAIT_MS)
        expect(button).to_have_text("开启推送通知")

        button.click()
        expect(button).to_have_attribute("data-push", "on", timeout=WAIT_MS)
        expect(button).to_have_text("关闭推送通知")
        expect(page.locator("#push-status")).to_have_text("本机已开启推送通知")
        assert page.evaluate("window.__pushKey") == push_hub.public_key  # subscribed with the hub's VAPID key
        assert page.evaluate("navigator.serviceWorker.controller && navigator.serviceWorker.controller.scriptURL") == (
            f"{push_hub.url}/sw.js"
        )
        with push_hub.db.session() as session:
            (row,) = session.scalars(select(PushSubscription)).all()
            assert (row.person_id, row.endpoint, row.p256dh) == (PERSON, ENDPOINT, subscription["keys"]["p256dh"])
        page.screenshot(path=artifacts_dir / "worker-push-enabled.png")

        # The payload exactly as the webpush channel would encrypt it for this person.
        links = ActionLinks(
            acknowledge=f"{push_hub.url}/test-actions/ack-token",
            on_my_way=f"{push_hub.url}/test-actions/onway-token",
            open=f"{push_hub.url}/worker",
        )
        card = make_card(31)
        message = Message(job_id="job-31", cards=(card,), recipient=Recipient(PERSON, "韩梅"), links=links)
        payload = build_payload(message, push_hub.url)
        cdp = context.new_cdp_session(page)
        scope = f"{push_hub.url}/"
        registration = registration_id(cdp, page, scope)
        shown = push(cdp, page, scope, registration, payload, lambda shown: bool(shown), what="the notification shown")
        assert shown == [
            {
                "title": card.title,
                "body": payload["body"],
                "tag": "alarm-31",
                "data": {"links": payload["links"], "alarm_id": 31, "drill": False},
                "requireInteraction": True,
                "actions": [["ack", "确认"], ["onway", "在路上"]],
            }
        ]

        # The buttons: no headless browser can tap a notification, so the service worker is handed the click
        # event Chromium would dispatch (a synthetic one: its waitUntil throws, after the action has been sent).
        # The POST leaving the worker also shows that /sw.js's CSP lets it reach the hub.
        (worker,) = context.service_workers
        worker.evaluate(CLICK, ["ack", "onway"])
        wait_for(lambda: len(push_hub.actions) == 2, timeout=15, what="the action links POSTed")
        assert sorted(push_hub.actions) == [
            ("POST", "ack-token", "same-origin"),
            ("POST", "onway-token", "same-origin"),
        ]
        assert page.evaluate(NOTIFICATIONS) == [], "a tapped notification is closed"

        # A second push for the same alarm is shown under its tag; a warning one does not insist.
        card = make_card(31, severity="warning")
        payload = build_payload(
            Message(job_id="job-32", cards=(card,), recipient=Recipient(PERSON, "韩梅")), push_hub.url
        )
        push(
            cdp,
            page,
            scope,
            registration,
            payload,
            lambda shown: [n["requireInteraction"] for n in shown] == [False],
            what="the notification replaced",
        )
        (replaced,) = page.evaluate(NOTIFICATIONS)
        assert replaced["actions"] == []  # no signed links in this message: no buttons
        assert replaced["data"]["links"]["open"] == f"{push_hub.url}/worker#/alarms/31"

        # Turning it off removes the subscription from the hub.
        button.click()
        expect(button).to_have_attribute("data-push", "off", timeout=WAIT_MS)
        with push_hub.db.session() as session:
            assert session.scalars(select(PushSubscription)).all() == []
    finally:
        context.close()
