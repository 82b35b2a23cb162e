"""Oversized request bodies are refused with 413 and a clear error before any handler reads them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from starlette.types import Message, Receive, Scope, Send

from hub.web.limits import MAX_BODY_BYTES, BodySizeLimit
from tests.hub.web.conftest import WebHub

MANAGER = "p-han-mei"
SMOKE = "b2-u1-1502-smoke"


def test_oversized_json_body_is_refused_with_413(web: WebHub) -> None:
    """Test that a resolve whose JSON body is over MAX_BODY_BYTES gets 413 saying how large and what is allowed,
    the alarm stays open, and the same request with a normal note works."""
    alarm = web.raise_alarm(SMOKE)
    big = {"note": "x" * (MAX_BODY_BYTES + 1)}
    response = web.client.post(f"/api/v1/alarms/{alarm}/resolve", json=big, headers=web.auth(MANAGER))
    assert response.status_code == 413
    detail = response.json()["detail"]
    assert "larger than" in detail and str(MAX_BODY_BYTES) in detail
    assert response.headers["x-content-type-options"] == "nosniff"
    assert web.service.get_alarm(alarm).state != "resolved"
    ok = web.client.post(f"/api/v1/alarms/{alarm}/resolve", json={"note": "checked"}, headers=web.auth(MANAGER))
    assert ok.status_code == 200


def _chunks(total: int, size: int = 8192) -> Iterator[bytes]:
    yield b'{"note": "'
    for _ in range(total // size):
        yield b"y" * size
    yield b'"}'


def test_oversized_chunked_body_is_refused_with_413(web: WebHub) -> None:
    """Test that a body sent without Content-Length (chunked) is refused once it grows past the limit, and a
    small chunked body still reaches the handler."""
    alarm = web.raise_alarm(SMOKE)
    url = f"/api/v1/alarms/{alarm}/acknowledge"
    headers = web.auth(MANAGER) | {"Content-Type": "application/json"}
    response = web.client.post(url, content=_chunks(4 * MAX_BODY_BYTES), headers=headers)
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]
    small = web.client.post(url, content=iter([b'{"note": ', b'"on my way"}']), headers=headers)
    assert small.status_code == 200
    assert small.json()["state"] == "acknowledged"


def test_oversized_login_form_is_refused_with_413(web: WebHub) -> None:
    """Test that the login form, too, refuses a body past the limit."""
    response = web.client.post("/login", data={"token": "t" * (2 * MAX_BODY_BYTES)}, follow_redirects=False)
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ([(b"content-length", b"12abc")], 400),
        ([(b"content-length", str(MAX_BODY_BYTES + 1).encode())], 413),
        ([(b"content-length", str(MAX_BODY_BYTES).encode())], 200),
        ([], 200),
    ],
)
def test_declared_length_is_checked_before_the_app_runs(headers: list[tuple[bytes, bytes]], status: int) -> None:
    """Test the middleware alone: a Content-Length that is not a number is a 400, one over the limit a 413,
    and in both cases the app behind it never runs."""
    reached: list[bool] = []

    async def app(_scope: Scope, _receive: Receive, send: Send) -> None:
        reached.append(True)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "http", "method": "POST", "path": "/x", "headers": headers}
    asyncio.run(BodySizeLimit(app)(scope, receive, send))
    assert sent[0]["status"] == status
    assert reached == ([True] if status == 200 else [])
