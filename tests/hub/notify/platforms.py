"""Loopback stand-ins for the push platforms no machine here can reach, behaving as their documentation says.

Each is a real HTTP server (``ThreadingHTTPServer`` on a free loopback port) that checks what a channel sends
the way the platform does and answers the way the platform does:

- ``WeComRobot``: key in the query (93000 otherwise), ``text`` ≤ 2048 / ``markdown`` ≤ 4096 bytes of content,
  20 messages a minute (45009 past it), always HTTP 200 with ``errcode``.
- ``DingTalkRobot``: access_token, signing (timestamp ms within an hour, ``sign`` = urlencoded base64
  HMAC-SHA256(secret, f"{ts}\\n{secret}")) and keywords (310000 on any failure), message shapes, 20 a minute
  (130101 past it, then blocked for 10 minutes), always HTTP 200 with ``errcode``.
- ``FeishuBot``: hook id, signing in the body (timestamp s within an hour, ``sign`` = base64 HMAC-SHA256 keyed
  f"{ts}\\n{secret}" over nothing: 19021 otherwise), body ≤ 20 KB, card shape, 100 a minute and 5 a second
  (11232 past them); ``code`` in the body.
- ``NtfyServer``: ``POST /topic``, bearer token, RFC 2047 headers decoded, ``X-Priority`` 1–5, ≤ 3 actions,
  body ≤ 4096 bytes, a visitor limit (429).
- ``WebhookReceiver``: verifies ``X-Compound-Signature`` and answers the statuses a test queues.
- ``SmsGateway``: API key header, phone shape, one message a minute per number (Aliyun's default flow control).

Each keeps every request (``received``) and what it answered, for assertions. Rate windows use ``clock``
(``time.monotonic`` unless a test sets its own), signature windows ``wall`` (``time.time`` unless set).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import socket
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support import free_port

__all__ = [
    "DingTalkRobot",
    "FeishuBot",
    "NtfyServer",
    "PlatformServer",
    "Received",
    "SilentServer",
    "SmsGateway",
    "WeComRobot",
    "WebhookReceiver",
]


@dataclass
class Received:
    """One request as the server saw it, and its answer."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status: int = 0
    answer: Any = None
    accepted: bool = False

    @property
    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    accepted: bool = False


class Window:
    """Sliding-window counts, as a platform keeps them (per minute, per second)."""

    def __init__(self, per_minute: int | None, per_second: int | None = None) -> None:
        self.per_minute = per_minute
        self.per_second = per_second
        self.sent: deque[float] = deque()

    def allow(self, now: float) -> bool:
        while self.sent and self.sent[0] <= now - 60.0:
            self.sent.popleft()
        if self.per_minute is not None and len(self.sent) >= self.per_minute:
            return False
        if self.per_second is not None and sum(1 for t in self.sent if t > now - 1.0) >= self.per_second:
            return False
        self.sent.append(now)
        return True


class PlatformServer(ABC):
    """A threaded loopback HTTP server; subclasses answer ``handle``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.host = "127.0.0.1"
        self.received: list[Received] = []
        self.clock: Callable[[], float] = time.monotonic
        self.wall: Callable[[], float] = time.time
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def accepted(self) -> list[Received]:
        """The requests the platform took as delivered."""
        with self.lock:
            return [r for r in self.received if r.accepted]

    @abstractmethod
    def handle(self, request: Received) -> Answer:
        """How this platform answers one request (each platform's subclass says)."""

    def start(self) -> PlatformServer:
        platform = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # headers and body go out in separate writes: without this, Nagle waits on a delayed ACK (40 ms)
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                query = {key: values[0] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
                request = Received(
                    method=self.command,
                    path=parts.path,
                    query=query,
                    headers={key.lower(): value for key, value in self.headers.items()},
                    body=body,
                )
                with platform.lock:
                    answer = platform.handle(request)
                    request.status, request.answer, request.accepted = answer.status, answer.body, answer.accepted
                    platform.received.append(request)
                payload = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            do_POST = _serve
            do_PUT = _serve
            do_GET = _serve

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _json_body(request: Received) -> Any:
    try:
        return json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def _bytes(text: Any) -> int:
    return len(str(text).encode("utf-8"))


class WeComRobot(PlatformServer):
    """A WeCom group robot at ``/cgi-bin/webhook/send?key=KEY``."""

    def __init__(self, key: str = "wecom-key-1", per_minute: int = 20) -> None:
        super().__init__()
        self.key = key
        self.window = Window(per_minute)

    @property
    def url(self) -> str:
        return f"{self.base_url}/cgi-bin/webhook/send?key={self.key}"

    def _error(self, code: int, message: str) -> Answer:
        return Answer(200, {"errcode": code, "errmsg": message})

    def handle(self, request: Received) -> Answer:
        if request.path != "/cgi-bin/webhook/send" or request.query.get("key") != self.key:
            return self._error(93000, "invalid webhook url")
        body = _json_body(request)
        if not isinstance(body, dict):
            return self._error(40035, "invalid parameter")
        msgtype = body.get("msgtype")
        if msgtype not in ("text", "markdown", "image", "news", "file", "template_card"):
            return self._error(40008, "invalid message type")
        if msgtype in ("text", "markdown"):
            content = (body.get(msgtype) or {}).get("content")
            if not isinstance(content, str) or not content:
                return self._error(44004, "empty content")
            limit = 2048 if msgtype == "text" else 4096
            if _bytes(content) > limit:
                return self._error(40058, f"{msgtype}.content exceed max length {limit}")
        if not self.window.allow(self.clock()):
            return self._error(45009, "api freq out of limit")
        return Answer(200, {"errcode": 0, "errmsg": "ok"}, accepted=True)


class DingTalkRobot(PlatformServer):
    """A DingTalk custom robot at ``/robot/send?access_token=T`` with optional signing and keywords."""

    def __init__(
        self,
        token: str = "dingtalk-token-1",
        secret: str | None = "SECdingtalk-secret",
        keywords: tuple[str, ...] = (),
        per_minute: int = 20,
        block_s: float = 600.0,
    ) -> None:
        super().__init__()
        self.token = token
        self.secret = secret
        self.keywords = keywords
        self.window = Window(per_minute)
        self.block_s = block_s
        self.blocked_until = float("-inf")

    @property
    def url(self) -> str:
        return f"{self.base_url}/robot/send?access_token={self.token}"

    def _error(self, code: int, message: str) -> Answer:
        return Answer(200, {"errcode": code, "errmsg": message})

    def _texts(self, body: dict[str, Any]) -> list[str] | None:
        msgtype = body.get("msgtype")
        part = body.get(msgtype) if isinstance(msgtype, str) else None
        if not isinstance(part, dict):
            return None
        if msgtype == "text":
            return [part["content"]] if isinstance(part.get("content"), str) else None
        if msgtype == "markdown":
            if not (isinstance(part.get("title"), str) and isinstance(part.get("text"), str)):
                return None
            return [part["title"], part["text"]]
        if msgtype == "actionCard":
            if not (isinstance(part.get("title"), str) and isinstance(part.get("text"), str)):
                return None
            btns = part.get("btns")
            if btns is not None:
                if not isinstance(btns, list) or not btns:
                    return None
                for btn in btns:
                    if not (
                        isinstance(btn, dict) and btn.get("title") and str(btn.get("actionURL", "")).startswith("http")
                    ):
                        return None
            elif not (part.get("singleTitle") and part.get("singleURL")):
                return None
            return [part["title"], part["text"]]
        return None

    def handle(self, request: Received) -> Answer:
        if request.path != "/robot/send" or request.query.get("access_token") != self.token:
            return self._error(300001, "token is not exist")
        if self.secret is not None:
            ts, sign = request.query.get("timestamp"), request.query.get("sign")
            if not ts or not sign or not ts.isdigit():
                return self._error(
                    310000, "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"
                )
            if abs(self.wall() * 1000 - int(ts)) > 3600 * 1000:
                return self._error(310000, "invalid timestamp")
            expected = base64.b64encode(
                hmac.new(self.secret.encode(), f"{ts}\n{self.secret}".encode(), hashlib.sha256).digest()
            ).decode()
            # parse_qs already undid the urlencoding the documentation asks for
            if not hmac.compare_digest(sign, expected):
                return self._error(310000, "sign not match")
        body = _json_body(request)
        texts = self._texts(body) if isinstance(body, dict) else None
        if texts is None:
            return self._error(40035, "缺少参数 json")
        if self.keywords and not any(word in text for word in self.keywords for text in texts):
            return self._error(310000, "keywords not in content")
        now = self.clock()
        if now < self.blocked_until:
            return self._error(130101, "send too fast, exceed 20 times per minute")
        if not self.window.allow(now):
            self.blocked_until = now + self.block_s
            return self._error(130101, "send too fast, exceed 20 times per minute")
        return Answer(200, {"errcode": 0, "errmsg": "ok"}, accepted=True)


class FeishuBot(PlatformServer):
    """A Feishu custom bot at ``/open-apis/bot/v2/hook/HOOK`` with optional signing."""

    MAX_BODY = 20 * 1024

    def __init__(
        self,
        hook: str = "feishu-hook-1",
        secret: str | None = "feishu-secret",
        per_minute: int = 100,
        per_second: int = 5,
    ) -> None:
        super().__init__()
        self.hook = hook
        self.secret = secret
        self.window = Window(per_minute, per_second)
        self.too_many_as_9499 = False
        """Answer the rate limit as HTTP 400 code 9499 "too many request" (seen in the field) instead of 11232."""

    @property
    def url(self) -> str:
        return f"{self.base_url}/open-apis/bot/v2/hook/{self.hook}"

    def _error(self, code: int, message: str, status: int = 200) -> Answer:
        return Answer(status, {"code": code, "msg": message, "data": {}})

    def _card_ok(self, card: Any) -> bool:
        if not isinstance(card, dict) or not isinstance(card.get("elements"), list) or not card["elements"]:
            return False
        header = card.get("header")
        if header is not None and not (isinstance(header, dict) and header.get("title", {}).get("content")):
            return False
        for element in card["elements"]:
            if not isinstance(element, dict) or "tag" not in element:
                return False
            if element["tag"] == "action":
                for action in element.get("actions", []):
                    if action.get("tag") == "button" and not str(action.get("url", "")).startswith("http"):
                        return False
        return True

    def handle(self, request: Received) -> Answer:
        if request.path != f"/open-apis/bot/v2/hook/{self.hook}":
            return self._error(19001, "param invalid: incoming webhook access token invalid", 400)
        if len(request.body) > self.MAX_BODY:
            return self._error(9499, "Bad Request: request body too large", 400)
        body = _json_body(request)
        if not isinstance(body, dict):
            return self._error(9499, "Bad Request", 400)
        if self.secret is not None:
            ts, sign = body.get("timestamp"), body.get("sign")
            expected = None
            if isinstance(ts, str) and ts.isdigit() and abs(self.wall() - int(ts)) <= 3600:
                key = f"{ts}\n{self.secret}".encode()
                expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
            if expected is None or not isinstance(sign, str) or not hmac.compare_digest(sign, expected):
                return self._error(19021, "sign match fail or timestamp is not within one hour from current time")
        msg_type = body.get("msg_type")
        if msg_type == "interactive":
            if not self._card_ok(body.get("card")):
                return self._error(11246, "card content invalid")
        elif msg_type == "text":
            if not (body.get("content") or {}).get("text"):
                return self._error(9499, "Bad Request", 400)
        else:
            return self._error(9499, "Bad Request", 400)
        if not self.window.allow(self.clock()):
            if self.too_many_as_9499:
                return self._error(9499, "too many request", 400)
            return self._error(11232, "frequency limited psm[lark.oapi.app_platform_runtime]appID[1]")
        return Answer(200, {"code": 0, "msg": "success", "data": {}}, accepted=True)


def _rfc2047(value: str) -> str:
    if "=?" not in value:
        return value
    return str(make_header(decode_header(value)))


_ACTION = re.compile(r"^(view|http|broadcast|copy)\s*,")


class NtfyServer(PlatformServer):
    """A self-hosted ntfy at ``/TOPIC``, optionally requiring a bearer token."""

    def __init__(self, token: str | None = "tk_ntfy_token", per_minute: int = 60) -> None:
        super().__init__()
        self.token = token
        self.window = Window(per_minute)
        self.count = 0

    def decoded(self, request: Received, header: str) -> str | None:
        value = request.headers.get(header.lower())
        return None if value is None else _rfc2047(value)

    def handle(self, request: Received) -> Answer:
        topic = request.path.lstrip("/")
        if not re.fullmatch(r"[-_A-Za-z0-9]{1,64}", topic):
            return Answer(404, {"code": 40401, "http": 404, "error": "page not found"})
        if self.token is not None and request.headers.get("authorization") != f"Bearer {self.token}":
            return Answer(401, {"code": 40101, "http": 401, "error": "unauthorized"})
        if len(request.body) > 4096:
            return Answer(413, {"code": 41301, "http": 413, "error": "message too large"})
        priority = request.headers.get("x-priority", "3")
        if priority not in {"1", "2", "3", "4", "5", "min", "low", "default", "high", "max", "urgent"}:
            return Answer(400, {"code": 40007, "http": 400, "error": "invalid priority"})
        actions = self.decoded(request, "X-Actions")
        if actions:
            parts = [part.strip() for part in actions.split(";") if part.strip()]
            if len(parts) > 3 or not all(_ACTION.match(part) for part in parts):
                return Answer(400, {"code": 40018, "http": 400, "error": "invalid request: actions invalid"})
        if not self.window.allow(self.clock()):
            return Answer(429, {"code": 42901, "http": 429, "error": "limit reached: too many requests"})
        self.count += 1
        return Answer(
            200,
            {
                "id": f"msg{self.count}",
                "time": int(self.wall()),
                "event": "message",
                "topic": topic,
                "title": self.decoded(request, "X-Title"),
                "message": request.body.decode("utf-8"),
            },
            accepted=True,
        )


class WebhookReceiver(PlatformServer):
    """Your own endpoint: checks the signature, answers the statuses queued in ``answers`` (then 200)."""

    def __init__(self, secret: str | None = "webhook-secret") -> None:
        super().__init__()
        self.secret = secret
        self.answers: deque[Answer] = deque()

    @property
    def url(self) -> str:
        return f"{self.base_url}/hooks/alarms"

    def handle(self, request: Received) -> Answer:
        if self.secret is not None:
            expected = "sha256=" + hmac.new(self.secret.encode(), request.body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(request.headers.get("x-compound-signature", ""), expected):
                return Answer(401, {"error": "bad signature"})
        if self.answers:
            return self.answers.popleft()
        return Answer(200, {"ok": True}, accepted=True)


class SmsGateway(PlatformServer):
    """An SMS / voice gateway: API key header, JSON in, ``{"code": "OK" | …, "message": …}`` out."""

    def __init__(self, api_key: str = "sms-api-key", per_number_per_minute: int = 1) -> None:
        super().__init__()
        self.api_key = api_key
        self.per_number = per_number_per_minute
        self.windows: dict[str, Window] = {}
        self.count = 0

    @property
    def url(self) -> str:
        return f"{self.base_url}/sms/send"

    def handle(self, request: Received) -> Answer:
        if request.headers.get("x-api-key") != self.api_key:
            return Answer(403, {"code": "isv.INVALID_KEY", "message": "invalid api key"})
        body = _json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("text"), str) or not body["text"]:
            return Answer(200, {"code": "isv.INVALID_PARAMETERS", "message": "text missing"})
        phone = str(body.get("phone", ""))
        if not re.fullmatch(r"(\+?86)?1[3-9]\d{9}", phone.replace(" ", "").replace("-", "")):
            return Answer(200, {"code": "isv.MOBILE_NUMBER_ILLEGAL", "message": "invalid mobile number"})
        window = self.windows.setdefault(phone, Window(self.per_number))
        if not window.allow(self.clock()):
            return Answer(200, {"code": "isv.BUSINESS_LIMIT_CONTROL", "message": "触发号码天级流控Permits:1"})
        self.count += 1
        return Answer(200, {"code": "OK", "message": "OK", "biz_id": f"biz{self.count}"}, accepted=True)


class SilentServer:
    """Accepts connections and never answers (a platform that hangs): a channel must time out."""

    def __init__(self) -> None:
        self.port = free_port()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", self.port))
        self._sock.listen(16)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hang"

    def stop(self) -> None:
        self._sock.close()
