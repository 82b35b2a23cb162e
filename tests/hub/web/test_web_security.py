"""Web and API hardening: single-use login links, revocation, headers, same-origin writes, rate limit, audit."""

from __future__ import annotations

import re
import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from compound.cli import main as compound_main
from compound.config import Compound, load_config
from hub.alarms.changes import AlarmChanges
from hub.alarms.service import AlarmService
from hub.db import Database, default_url
from hub.web import WebContext, create_app
from hub.web.accounts import PeopleWatch
from hub.web.assets import STATIC_DIR
from hub.web.auth import SECRET_ENV, SESSION_COOKIE, TokenSigner, TokenUse
from hub.web.routes import stream as stream_route
from hub.web.security import RateLimiter
from tests.hub.web.conftest import SECRET, ServedApp, WebHub
from tests.hub.web.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.support import wait_for

ROOT = Path(__file__).resolve().parents[3]
MANAGER = "p-han-mei"
WORKER = "p-wang-li"  # micro-grid worker of mg-b2-u1
FLAT_SMOKE = "b2-u1-1502-smoke"


def _session_of(response: httpx.Response) -> str:
    """The session cookie a sign-in response sets."""
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}="), cookie
    return cookie.split(";", 1)[0].split("=", 1)[1]


def _cookie(session: str) -> dict[str, str]:
    return {"Cookie": f"{SESSION_COOKIE}={session}"}


def _audit(web: WebHub, **params: str) -> list[dict[str, str]]:
    response = web.client.get("/api/v1/audit", params=params, headers=web.auth(MANAGER))
    assert response.status_code == 200, response.text
    entries: list[dict[str, str]] = response.json()
    return entries


# ---- login links


def test_login_link_works_once_and_redirects_to_a_clean_url(web: WebHub) -> None:
    """Test that a login link signs in once, lands on a URL without the token, and is refused the second time."""
    link = web.login_token(WORKER)
    first = web.client.get("/login", params={"token": link, "next": "/worker"})
    assert first.status_code == 303 and first.headers["location"] == "/worker"
    assert "token" not in first.headers["location"]
    session = _session_of(first)
    assert web.client.get("/api/v1/me", headers=_cookie(session)).json()["person"]["id"] == WORKER
    web.client.cookies.clear()
    second = web.client.get("/login", params={"token": link})
    assert second.status_code == 303 and second.headers["location"].startswith("/login?error=used")
    assert "set-cookie" not in second.headers
    pasted = web.client.post("/login", data={"token": link})
    assert pasted.headers["location"].startswith("/login?error=used") and "set-cookie" not in pasted.headers


def test_login_link_expires(web: WebHub) -> None:
    """Test that a login link older than its life is refused, and that the default life is 15 minutes."""
    old = web.signer.issue(WORKER, ttl_s=900, now=time.time() - 901, use=TokenUse.LOGIN)
    response = web.client.get("/login", params={"token": old})
    assert response.headers["location"].startswith("/login?error=expired") and "set-cookie" not in response.headers
    claims = web.signer.claims(web.login_token(WORKER))
    assert claims.use is TokenUse.LOGIN and claims.expires_at - claims.issued_at == 15 * 60


def test_login_link_token_is_no_credential(web: WebHub) -> None:
    """Test that a login link's token is refused as a bearer token or cookie, and an API token in a link too."""
    link = web.login_token(MANAGER)
    assert web.client.get("/api/v1/me", headers={"Authorization": f"Bearer {link}"}).status_code == 401
    assert web.client.get("/api/v1/me", headers=_cookie(link)).status_code == 401
    api_in_url = web.client.get("/login", params={"token": web.token(MANAGER)})
    assert api_in_url.headers["location"].startswith("/login?error=wrong_use")


def test_used_login_links_stay_used_across_a_restart(web: WebHub, hub_db: Database, compound: Compound) -> None:
    """Test that single use holds across hub processes: the used link's id is in the database, not in memory."""
    link = web.login_token(WORKER)
    assert "set-cookie" in web.client.get("/login", params={"token": link}).headers
    service = AlarmService(hub_db, compound, changes=AlarmChanges())
    second = ServedApp(create_app(WebContext(compound=compound, service=service, signer=TokenSigner(SECRET)))).start()
    try:
        response = httpx.get(f"{second.url}/login", params={"token": link}, timeout=20)
        assert response.headers["location"].startswith("/login?error=used")
    finally:
        second.stop()


@pytest.mark.browser
def test_login_link_leaves_no_token_in_the_address_bar(web: WebHub) -> None:
    """Test in Chromium that opening a login link ends on the worker page with a clean address and no referrer."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            link = f"{web.url}/login?token={web.login_token(WORKER)}&next=/worker"
            page.goto(link)
            page.wait_for_url(f"{web.url}/worker")
            assert "token" not in page.url
            assert page.evaluate("document.referrer") == ""
            page.wait_for_selector("#live[data-status=live]", timeout=15_000)
            # The page's own writes (logout form) pass the same-origin check.
            page.click("form[action='/logout'] button")
            page.wait_for_url(re.compile(r".*/login$"))
            page.goto(link)  # a second time: refused, and the page says why
            page.wait_for_url(re.compile(r".*/login\?error=used.*"))
            assert "token=" not in page.url
            expect(page.locator("#error")).to_contain_text("已使用过")
        finally:
            browser.close()


# ---- revocation


def test_revoked_token_stops_working_at_once(web: WebHub) -> None:
    """Test that a manager revokes a token by id through the API; it and sessions opened with it stop at once."""
    token = web.token(WORKER)
    token_id = web.signer.claims(token).token_id
    session = _session_of(web.client.post("/login", data={"token": token}))
    web.client.cookies.clear()
    assert web.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    denied = web.client.post("/api/v1/tokens/revoke", json={"token_id": token_id}, headers=web.auth(WORKER))
    assert denied.status_code == 403
    done = web.client.post("/api/v1/tokens/revoke", json={"token_id": token_id}, headers=web.auth(MANAGER))
    assert done.status_code == 200 and done.json() == {"revoked": token_id, "changed": True}
    assert web.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert web.client.get("/api/v1/me", headers=_cookie(session)).status_code == 401
    assert web.client.get("/api/v1/me", headers=web.auth(WORKER)).status_code == 200  # a new token still works


def test_open_stream_ends_when_its_token_is_revoked(web: WebHub, monkeypatch: pytest.MonkeyPatch) -> None:
    """Test that a live stream opened with a token sends nothing more once the token is revoked, and ends."""
    monkeypatch.setattr(stream_route, "RECHECK_S", 0.0)
    token = web.token(WORKER)
    lines: list[str] = []

    def read() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.stream("GET", f"{web.url}/api/v1/alarms/stream", headers=headers, timeout=20) as response:
            lines.extend(line for line in response.iter_lines() if line.startswith("data: "))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    wait_for(lambda: web.service.changes.subscribers == 1, timeout=10, what="the stream to subscribe")
    token_id = web.signer.claims(token).token_id
    web.client.post("/api/v1/tokens/revoke", json={"token_id": token_id}, headers=web.auth(MANAGER))
    web.raise_alarm(FLAT_SMOKE)
    reader.join(timeout=15)
    assert not reader.is_alive(), "the stream did not end"
    assert lines == []


def test_revoking_a_person_ends_all_their_tokens(web: WebHub) -> None:
    """Test that revoking ``person`` refuses every token issued to them until now, and none issued later."""
    before = web.auth(WORKER)
    response = web.client.post("/api/v1/tokens/revoke", json={"person": WORKER}, headers=web.auth(MANAGER))
    assert response.json()["revoked"] == f"person:{WORKER}"
    assert web.client.get("/api/v1/me", headers=before).status_code == 401
    time.sleep(1.1)  # token issue times are whole seconds
    assert web.client.get("/api/v1/me", headers=web.auth(WORKER)).status_code == 200


def test_logout_ends_the_session_on_the_server(web: WebHub) -> None:
    """Test that a session cookie kept after logout no longer works."""
    session = _session_of(web.client.post("/login", data={"token": web.token(WORKER)}))
    web.client.cookies.clear()
    assert web.client.post("/logout", headers=_cookie(session)).status_code == 303
    assert web.client.get("/api/v1/me", headers=_cookie(session)).status_code == 401


def test_token_command_revokes_in_the_hub_database(
    tmp_path: Path, compound: Compound, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Test that `compound token --url` prints a single-use link and its id, and `--revoke ID` refuses it."""
    monkeypatch.setenv(SECRET_ENV, SECRET)
    data = tmp_path / "data"
    args = ["--data-dir", str(data), "--config", str(ROOT / "configs")]
    with pytest.raises(SystemExit) as exit_info:
        compound_main(["token", WORKER, "--url", *args])
    assert exit_info.value.code == 0
    out, err = capsys.readouterr()
    link_token = out.strip().split("token=", 1)[1]
    claims = TokenSigner(SECRET).claims(link_token)
    assert claims.use is TokenUse.LOGIN and f"token id: {claims.token_id}" in err
    with pytest.raises(SystemExit) as exit_info:
        compound_main(["token", "--revoke", claims.token_id, *args])
    assert exit_info.value.code == 0
    db = Database(default_url(data))
    service = AlarmService(db, compound, changes=AlarmChanges())
    served = ServedApp(create_app(WebContext(compound=compound, service=service, signer=TokenSigner(SECRET)))).start()
    try:
        response = httpx.get(f"{served.url}/login", params={"token": link_token}, timeout=20)
        assert response.headers["location"].startswith("/login?error=revoked")
    finally:
        served.stop()
        db.dispose()


def test_person_removed_from_people_yaml_is_refused_at_once(tmp_path: Path, hub_db: Database) -> None:
    """Test that deleting a person from people.yaml refuses their still-valid token without a restart."""
    config = tmp_path / "configs"
    shutil.copytree(ROOT / "configs", config)
    compound = load_config(config)
    signer = TokenSigner(SECRET)
    service = AlarmService(hub_db, compound, changes=AlarmChanges())
    context = WebContext(
        compound=compound, service=service, signer=signer, people=PeopleWatch(compound, interval_s=0.0)
    )
    served = ServedApp(create_app(context)).start()
    try:
        headers = {"Authorization": f"Bearer {signer.issue_for(compound, WORKER)}"}
        assert httpx.get(f"{served.url}/api/v1/me", headers=headers, timeout=20).status_code == 200
        people = config / "people.yaml"
        people.write_text(
            "".join(line for line in people.read_text().splitlines(keepends=True) if f"id: {WORKER}," not in line)
        )
        response = httpx.get(f"{served.url}/api/v1/me", headers=headers, timeout=20)
        assert response.status_code == 401 and "unknown_person" in response.text
        manager = {"Authorization": f"Bearer {signer.issue_for(compound, MANAGER)}"}
        assert httpx.get(f"{served.url}/api/v1/me", headers=manager, timeout=20).status_code == 200
    finally:
        served.stop()


# ---- headers


@pytest.mark.parametrize(
    "path", ["/login", "/api/v1/alarms", "/api/v1/me", "/static/console.js", "/healthz", "/nowhere", "/openapi.json"]
)
def test_every_response_carries_the_security_headers(web: WebHub, path: str) -> None:
    """Test that pages, JSON, static files, errors and 401s all carry the headers, with a CSP forbidding framing."""
    response = web.client.get(path)
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp


def test_api_docs_allow_only_their_own_inline_script_by_hash(web: WebHub) -> None:
    """Test that /docs runs its one bootstrap script by hash, never 'unsafe-inline' scripts."""
    csp = web.client.get("/docs").headers["content-security-policy"]
    script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
    assert "'sha256-" in script_src and "unsafe-inline" not in script_src and "frame-ancestors 'none'" in csp


def test_console_pages_have_no_inline_script() -> None:
    """Test that no page shipped in static/ has an inline script or an inline event handler (the CSP forbids them)."""
    for html in STATIC_DIR.glob("*.html"):
        text = html.read_text(encoding="utf-8")
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag, f"{html.name}: inline script {tag}"
        assert not re.search(r"\son[a-z]+\s*=", text), f"{html.name}: inline event handler"
        assert "javascript:" not in text, html.name


# ---- same-origin writes


def test_cookie_writes_must_come_from_the_console(web: WebHub) -> None:
    """Test that a cookie-authenticated POST from another site (or saying nothing) is refused; bearer calls are not."""
    alarm_id = web.raise_alarm(FLAT_SMOKE)
    session = _session_of(web.client.post("/login", data={"token": web.token(WORKER)}))
    web.client.cookies.clear()
    path = f"/api/v1/alarms/{alarm_id}/acknowledge"
    for bad in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}, {}):
        headers = {**_cookie(session), **bad}
        with httpx.Client(base_url=web.url, timeout=20) as bare:  # no default Origin
            response = bare.post(path, json={}, headers=headers)
        assert response.status_code == 403, bad
    assert web.service.get_alarm(alarm_id).state != "acknowledged"  # type: ignore[union-attr]
    ok = web.client.post(path, json={}, headers={**_cookie(session), "Sec-Fetch-Site": "same-origin"})
    assert ok.status_code == 200, ok.text
    cross_site_bearer = web.client.post(
        f"/api/v1/alarms/{alarm_id}/resolve",
        json={"note": "done"},
        headers={**web.auth(WORKER), "Origin": "https://evil.example"},
    )
    assert cross_site_bearer.status_code == 200


def test_cross_site_login_form_is_refused(web: WebHub) -> None:
    """Test that a form posted to /login from another site cannot sign the browser in."""
    response = web.client.post("/login", data={"token": web.token(MANAGER)}, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403 and "set-cookie" not in response.headers


# ---- rate limit


def test_sign_in_is_rate_limited_per_client(web: WebHub) -> None:
    """Test that a burst of sign-in attempts from one address is answered 429 with Retry-After."""
    codes = [web.client.post("/login", data={"token": "guess"}).status_code for _ in range(12)]
    assert codes[:10] == [303] * 10 and codes[-1] == 429
    limited = web.client.get("/login", params={"token": "guess"})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert web.client.get("/login").status_code == 200  # the form itself stays reachable


def test_token_bucket_refills() -> None:
    """Test the bucket: ``burst`` at once, then one more per refill interval, separately per client."""
    limiter = RateLimiter(burst=2, per_minute=60)
    assert [limiter.allow("a", now=0.0) for _ in range(3)] == [0.0, 0.0, pytest.approx(1.0)]
    assert limiter.allow("b", now=0.0) == 0.0
    assert limiter.allow("a", now=1.0) == 0.0


# ---- audit log


def test_audit_log_records_each_action_with_who_when_and_where(web: WebHub) -> None:
    """Test that sign-in (and refusals), acknowledge, resolve, token revocation and sign-out are in the audit log."""
    alarm_id = web.raise_alarm(FLAT_SMOKE)
    web.client.post("/login", data={"token": "forged"})
    session = _session_of(web.client.post("/login", data={"token": web.token(WORKER)}))
    web.client.cookies.clear()
    cookie = _cookie(session)
    assert web.client.post(f"/api/v1/alarms/{alarm_id}/acknowledge", json={}, headers=cookie).status_code == 200
    resolved = web.client.post(f"/api/v1/alarms/{alarm_id}/resolve", json={"note": "ok"}, headers=cookie)
    assert resolved.status_code == 200
    other = web.signer.claims(web.token(MANAGER)).token_id
    web.client.post("/api/v1/tokens/revoke", json={"token_id": other}, headers=web.auth(MANAGER))
    web.client.post("/logout", headers=cookie)
    entries = list(reversed(_audit(web)))
    assert [(e["actor"], e["action"], e["target"]) for e in entries] == [
        ("-", "sign_in_refused", None),
        (WORKER, "sign_in", entries[1]["target"]),
        (WORKER, "acknowledge", f"alarm:{alarm_id}"),
        (WORKER, "resolve", f"alarm:{alarm_id}"),
        (MANAGER, "token_revoke", other),
        (WORKER, "sign_out", entries[5]["target"]),
    ]
    assert all(e["client"] == "127.0.0.1" and e["at"] for e in entries)
    assert entries[0]["detail"] == "bad_signature"
    assert [e["action"] for e in _audit(web, actor=WORKER, action="resolve")] == ["resolve"]


def test_audit_log_is_for_managers_only(web: WebHub) -> None:
    """Test that grid workers, security and maintenance get 403 from the audit log; no sign-in gets 401."""
    for person in (WORKER, "p-gao-ming", "p-guo-peng", "p-deng-hao", "p-xu-hong"):
        assert web.client.get("/api/v1/audit", headers=web.auth(person)).status_code == 403, person
    assert web.client.get("/api/v1/audit").status_code == 401
