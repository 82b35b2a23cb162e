"""Accounts: the login page and session cookie, logout, the secret key file, and ``compound token``."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import httpx
import pytest

from compound.cli import main as compound_main
from compound.config import Compound
from hub.web import TokenSigner, load_secret_key
from hub.web.auth import SECRET_ENV, SESSION_COOKIE, UnknownPerson
from tests.hub.web.conftest import WebHub

ROOT = Path(__file__).resolve().parents[3]


def _cookie_header(response: httpx.Response) -> str:
    headers = response.headers.get_list("set-cookie")
    assert len(headers) == 1, headers
    return headers[0]


def test_pages_redirect_to_login_without_a_session(web: WebHub) -> None:
    """Test that the console and worker pages send an anonymous browser to the login page."""
    for path in ("/", "/worker"):
        response = web.client.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next={path}"
    login = web.client.get("/login")
    assert login.status_code == 200 and 'name="token"' in login.text


def test_login_form_sets_a_strict_httponly_session(web: WebHub) -> None:
    """Test that posting a valid token sets an HttpOnly, SameSite=Strict cookie that opens the console and the API."""
    response = web.client.post("/login", data={"token": web.token("p-han-mei"), "next": "/worker"})
    assert response.status_code == 303 and response.headers["location"] == "/worker"
    cookie = _cookie_header(response)
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    session = cookie.split(";", 1)[0].split("=", 1)[1]
    headers = {"Cookie": f"{SESSION_COOKIE}={session}"}
    assert web.client.get("/", headers=headers).status_code == 200
    assert web.client.get("/api/v1/me", headers=headers).json()["person"]["id"] == "p-han-mei"


def test_login_link_signs_in_at_once(web: WebHub) -> None:
    """Test that /login?token=... (the link `compound up` prints) sets the session and goes to the console."""
    response = web.client.get("/login", params={"token": web.login_token("p-wang-li")})
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert _cookie_header(response).startswith(f"{SESSION_COOKIE}=")


@pytest.mark.parametrize("token", ["nonsense", "eyJzdWIiOiJwLWhhbi1tZWkifQ.AAAAAA.forged"])
def test_login_with_a_bad_token_sets_nothing(web: WebHub, token: str) -> None:
    """Test that a bad token on the login form or link returns to the form with an error and no cookie."""
    for response in (
        web.client.post("/login", data={"token": token}),
        web.client.get("/login", params={"token": token}),
    ):
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?error=")
        assert "set-cookie" not in response.headers


def test_login_never_redirects_off_site(web: WebHub) -> None:
    """Test that ``next`` pointing at another site is replaced by the console's own root."""
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        response = web.client.post("/login", data={"token": web.token("p-han-mei"), "next": target})
        assert response.headers["location"] == "/", target


def test_logout_forgets_the_session(web: WebHub) -> None:
    """Test that logout expires the cookie and goes back to the login page."""
    response = web.client.post("/logout")
    assert response.status_code == 303 and response.headers["location"] == "/login"
    cookie = _cookie_header(response)
    assert cookie.startswith(f'{SESSION_COOKIE}=""') and "Max-Age=0" in cookie


def test_secret_key_file_is_generated_private_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Test that without the env variable a 0600 key file is created once and then reused."""
    monkeypatch.delenv(SECRET_ENV, raising=False)
    key = load_secret_key(tmp_path / "data")
    path = tmp_path / "data" / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret_key(tmp_path / "data") == key and len(key) >= 32
    monkeypatch.setenv(SECRET_ENV, "from-the-environment-0123456789")
    assert load_secret_key(tmp_path / "data") == "from-the-environment-0123456789"
    monkeypatch.setenv(SECRET_ENV, "short")
    with pytest.raises(ValueError, match="at least"):
        load_secret_key(tmp_path / "data")


def test_signer_refuses_unknown_people(compound: Compound) -> None:
    """Test that a token cannot be issued for someone who is not in the config."""
    with pytest.raises(UnknownPerson, match="p-nobody"):
        TokenSigner("k" * 32).issue_for(compound, "p-nobody")


def test_token_command_prints_a_token_the_hub_accepts(
    tmp_path: Path, compound: Compound, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Test that `compound token PERSON_ID` prints a token signed with the data dir's key, for that person."""
    monkeypatch.delenv(SECRET_ENV, raising=False)
    data = tmp_path / "data"
    with pytest.raises(SystemExit) as exit_info:
        compound_main(
            ["token", "p-wang-li", "--ttl", "600", "--data-dir", str(data), "--config", str(ROOT / "configs")]
        )
    assert exit_info.value.code == 0
    token = capsys.readouterr().out.strip()
    signer = TokenSigner(load_secret_key(data))
    assert signer.person(token, compound).id == "p-wang-li"
    assert os.stat(data / "secret.key").st_mode & 0o077 == 0


def test_token_command_refuses_an_unknown_person(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Test that `compound token` exits 1 with a clear message for a person not in the config, printing no token."""
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with pytest.raises(SystemExit) as exit_info:
        compound_main(["token", "p-nobody", "--data-dir", str(tmp_path), "--config", str(ROOT / "configs")])
    assert exit_info.value.code == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "no person with id 'p-nobody' in the config" in err


def test_pages_carry_security_headers(web: WebHub) -> None:
    """Test that pages forbid framing and foreign scripts, and API answers forbid MIME sniffing."""
    page = web.client.get("/login")
    assert page.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    api = web.client.get("/api/v1/alarms", headers=web.auth("p-han-mei"))
    assert api.headers["x-content-type-options"] == "nosniff" and api.headers["referrer-policy"] == "no-referrer"
