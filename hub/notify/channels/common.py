"""What the HTTP channel adapters share: secrets from config or file, one POST that never raises, reading a
robot platform's ``errcode`` answer into a ``DeliveryResult``.

Details never carry a secret: a failure names the host, never the webhook URL (whose query holds the key).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from hub.notify.channels.base import ChannelConfig, DeliveryResult

__all__ = [
    "JSON_HEADERS",
    "HttpChannel",
    "http_status_result",
    "json_bytes",
    "read_secret",
    "robot_result",
]


JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}


def json_bytes(body: Any) -> bytes:
    """``body`` as compact UTF-8 JSON (Chinese as itself, not ``\\u`` escapes: byte limits count this)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def read_secret(value: str | None, file: str | None, data_dir: Path, what: str) -> str | None:
    """A secret given inline (``value``) or in a file (``file``, relative to the data dir), stripped."""
    if value is not None:
        return value
    if file is None:
        return None
    path = Path(file)
    if not path.is_absolute():
        path = data_dir / path
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"{what}: cannot read {path}: {exc.strerror or exc}") from exc
    if not secret:
        raise ValueError(f"{what}: {path} is empty")
    return secret


def _host(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc or url.split("?", 1)[0]


def http_status_result(response: httpx.Response, cooldown_s: float = 60.0) -> DeliveryResult:
    """A non-success HTTP status with no platform code: 408, 429 and 5xx retryable, other 4xx not; 429 throttles
    for the answer's ``Retry-After`` or else ``cooldown_s``."""
    status = response.status_code
    retryable = status in (408, 425, 429) or status >= 500
    throttled = None
    if status == 429:
        throttled = _retry_after(response) or cooldown_s
    return DeliveryResult(
        ok=False,
        code=str(status),
        detail=f"HTTP {status} from {_host(str(response.url))}: {response.text[:200]}",
        retryable=retryable,
        throttled_for_s=throttled,
    )


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


def robot_result(
    response: httpx.Response,
    *,
    code_key: str,
    message_key: str,
    throttled: Mapping[int, float],
    fatal: frozenset[int],
) -> DeliveryResult:
    """A robot platform's answer (HTTP 200, or any status, with ``{code_key: 0|error, message_key: ...}``).

    The body's code decides, whatever the HTTP status (Feishu answers its rate limit 9499 with HTTP 400):
    0 is a delivery; a code in ``throttled`` is "too fast" (retryable, blocked for its seconds); a code in
    ``fatal`` cannot be fixed by a retry; any other code is retryable. No readable code: the HTTP status decides.
    """
    try:
        body: Any = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict) or not isinstance(body.get(code_key), int):
        if response.is_success:
            return DeliveryResult(
                ok=False,
                code=str(response.status_code),
                detail=f"unreadable answer from {_host(str(response.url))}: {response.text[:200]!r}",
                retryable=True,
            )
        return http_status_result(response)
    code: int = body[code_key]
    message = str(body.get(message_key, ""))
    if code == 0:
        return DeliveryResult(ok=True, code="0", detail=message)
    if code in throttled:
        return DeliveryResult(ok=False, code=str(code), detail=message, retryable=True, throttled_for_s=throttled[code])
    return DeliveryResult(ok=False, code=str(code), detail=message, retryable=code not in fatal)


class HttpChannel:
    """Base of the HTTP channels: their entry, one ``httpx.Client`` (the entry's timeout) and a POST that never
    raises."""

    def __init__(self, config: ChannelConfig, client: httpx.Client | None = None) -> None:
        self.config = config
        self._client = client or httpx.Client(timeout=config.timeout_s)
        self._timeout_s = config.timeout_s

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def _post(
        self,
        url: str,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response | DeliveryResult:
        """The platform's response, or a retryable failure (code ``None``) saying what went wrong on the way."""
        try:
            if content is not None:
                return self._client.post(url, content=content, headers=headers, timeout=self._timeout_s)
            return self._client.post(url, json=json_body, headers=headers, timeout=self._timeout_s)
        except httpx.TimeoutException as exc:
            detail = f"timeout after {self._timeout_s:g} s posting to {_host(url)} ({type(exc).__name__})"
        except httpx.HTTPError as exc:
            detail = f"cannot reach {_host(url)}: {type(exc).__name__}: {_strip_url(str(exc), url)}"
        return DeliveryResult(ok=False, code=None, detail=detail, retryable=True)


def _strip_url(text: str, url: str) -> str:
    return text.replace(url, _host(url))
