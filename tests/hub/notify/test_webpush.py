"""Web Push end to end without a push service: a local HTTP server plays one.

It receives pywebpush's POST as FCM or autopush would, checks the VAPID ``Authorization`` header (RFC 8292: an
ES256 JWT whose signature verifies with the hub's public key, ``aud`` its origin, ``exp`` within 24 h, ``sub`` the
configured contact) and decrypts the ``aes128gcm`` body (RFC 8291) with the private key of a browser subscription
the test generated, so the payload the service worker would get is asserted as it arrives. The push API's routes
are tested over a served app with bearer tokens and the session cookie.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import http_ece
import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from sqlalchemy import select

from compound.config import Compound
from hub.alarms.changes import AlarmChanges
from hub.alarms.service import AlarmService
from hub.db import Database, PushSubscription
from hub.notify.card import ActionLinks, AlertCard, Place
from hub.notify.channels import CHANNEL_TYPES, ChannelContext, DeliveryResult, Message, Recipient
from hub.notify.channels.webpush import MAX_PAYLOAD_BYTES, WebPushChannel, WebPushConfig, build_payload, encode_payload
from hub.notify.vapid import PRIVATE_FILE, PUBLIC_FILE, VAPID_DIR, load_vapid_keys
from hub.web import TokenSigner, WebContext, create_app
from hub.web.routes.push import attach_vapid
from tests.hub.web.conftest import SECRET, ServedApp

CONTACT = "mailto:ops@example.org"
PERSON = "p-han-mei"
PUBLIC_URL = "https://hub.example.org"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """A browser's push subscription keys (RFC 8291 user agent side): what ``pushManager.subscribe`` makes."""

    private_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def p256dh(self) -> str:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(point)

    def decrypt(self, body: bytes) -> dict[str, Any]:
        plain = http_ece.decrypt(body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm")
        decoded: dict[str, Any] = json.loads(plain)
        return decoded


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    claims: dict[str, Any]
    vapid_key: str
    payload: dict[str, Any] | None = None


class PushService:
    """A push service on loopback: ``/ok/...`` answers 201, ``/gone/...`` 410, ``/down/...`` 503.

    Every request's VAPID header is verified here (a bad one is answered 401 and recorded as an error); bodies
    are decrypted with the key of the browser registered for the path.
    """

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.errors: list[str] = []
        self.browsers: dict[str, Browser] = {}
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    claims, key = service.verify_vapid(headers.get("authorization", ""))
                except (AssertionError, ValueError, InvalidSignature) as exc:
                    service.errors.append(f"{self.path}: {type(exc).__name__}: {exc}")
                    self.send_response(401)
                    self.end_headers()
                    return
                got = Received(self.path, headers, body, claims, key)
                browser = service.browsers.get(self.path)
                if browser is not None:
                    try:
                        got.payload = browser.decrypt(body)
                    except Exception as exc:
                        service.errors.append(f"{self.path}: cannot decrypt: {exc!r}")
                service.received.append(got)
                status = {"ok": 201, "gone": 410, "down": 503}.get(self.path.split("/")[1], 404)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def verify_vapid(self, header: str) -> tuple[dict[str, Any], str]:
        """RFC 8292: ``vapid t=JWT, k=KEY``; the JWT's ES256 signature verifies with KEY; aud, exp, sub."""
        scheme, _, params = header.partition(" ")
        assert scheme == "vapid", f"Authorization scheme {scheme!r}"
        fields = dict(part.strip().split("=", 1) for part in params.split(","))
        token, key = fields["t"], fields["k"]
        head_b64, claims_b64, sig_b64 = token.split(".")
        head = json.loads(unb64url(head_b64))
        assert head == {"typ": "JWT", "alg": "ES256"} or head.get("alg") == "ES256", head
        signature = unb64url(sig_b64)
        assert len(signature) == 64, "ES256 signature is r||s, 64 bytes"
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        public.verify(der, f"{head_b64}.{claims_b64}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
        claims: dict[str, Any] = json.loads(unb64url(claims_b64))
        assert claims["aud"] == self.origin, claims
        now = time.time()
        assert now < int(claims["exp"]) <= now + 24 * 3600, claims
        assert claims["sub"] == CONTACT, claims
        return claims, key

    def subscribe(self, db: Database, kind: str, person: str = PERSON) -> Browser:
        """A browser subscribed at ``/<kind>/<n>``, its row stored as the API would."""
        browser = Browser()
        path = f"/{kind}/{len(self.browsers)}"
        self.browsers[path] = browser
        with db.session() as session:
            session.add(
                PushSubscription(
                    person_id=person,
                    endpoint=self.origin + path,
                    p256dh=browser.p256dh,
                    auth=b64url(browser.auth),
                    created_at=datetime.now(UTC),
                    failures=0,
                )
            )
        return browser


@pytest.fixture
def push_service() -> Iterator[PushService]:
    service = PushService()
    service.thread.start()
    try:
        yield service
    finally:
        service.server.shutdown()
        service.server.server_close()


def make_card(alarm_id: int = 42, *, severity: str = "critical", drill: bool = False) -> AlertCard:
    return AlertCard(
        alarm_id=alarm_id,
        kind="smoke",
        kind_label="烟雾报警",
        severity=severity,
        severity_label="紧急" if severity == "critical" else "警告",
        title=f"【火警】2号楼 1单元 1502 烟雾报警 #{alarm_id}",
        place=Place("2号楼", "1单元", "15层", "1502"),
        grid="g-micro-2",
        raised_at=datetime(2026, 11, 28, 18, 14, 7, tzinfo=UTC),
        raised_at_local="11-29 02:14:07",
        measured="烟雾浓度 0.31 dB/m（阈值 0.15）",
        alarm_url=f"{PUBLIC_URL}/#/alarms/{alarm_id}",
        drill=drill,
        care=("独居老人，行动不便",),
    )


LINKS = ActionLinks(
    acknowledge=f"{PUBLIC_URL}/a/ack-token", on_my_way=f"{PUBLIC_URL}/a/onway-token", open=f"{PUBLIC_URL}/a/open-token"
)


def message(*cards: AlertCard, links: ActionLinks | None = LINKS, person: str = PERSON) -> Message:
    return Message(job_id="job-1", cards=cards or (make_card(),), recipient=Recipient(person, "韩梅"), links=links)


@pytest.fixture
def channel(hub_db: Database, tmp_path: Path) -> WebPushChannel:
    config = WebPushConfig(id="webpush", type="webpush", contact=CONTACT, timeout_s=5)
    built = CHANNEL_TYPES["webpush"].build(config, ChannelContext(tmp_path / "data", PUBLIC_URL, hub_db))
    assert isinstance(built, WebPushChannel)
    return built


def rows(db: Database) -> list[PushSubscription]:
    with db.session() as session:
        return list(session.scalars(select(PushSubscription).order_by(PushSubscription.id)))


def test_a_push_is_signed_with_vapid_encrypted_for_the_browser_and_accepted(
    channel: WebPushChannel, push_service: PushService, hub_db: Database
) -> None:
    """Test that the push service gets a VAPID-signed aes128gcm body that decrypts to the alarm's payload."""
    push_service.subscribe(hub_db, "ok")
    result = channel.send(message())
    assert push_service.errors == []
    assert result == DeliveryResult(
        ok=True, code="201", detail=result.detail, extra={"accepted": 1, "removed": 0, "failed": 0}
    )
    (got,) = push_service.received
    assert got.vapid_key == channel.keys.public_key
    assert got.headers["content-encoding"] == "aes128gcm"
    assert got.headers["urgency"] == "high"  # a critical alarm
    assert got.headers["ttl"] == "900"
    assert got.payload == {
        "title": "【火警】2号楼 1单元 1502 烟雾报警 #42",
        "body": "2号楼 1单元 15层 1502\n烟雾浓度 0.31 dB/m（阈值 0.15）\n11-29 02:14:07",
        "alarm_id": 42,
        "tag": "alarm-42",
        "drill": False,
        "critical": True,
        "links": {"acknowledge": LINKS.acknowledge, "on_my_way": LINKS.on_my_way, "open": LINKS.open},
    }
    assert "独居老人" not in json.dumps(got.payload, ensure_ascii=False)  # no care data on a lock screen
    (row,) = rows(hub_db)
    assert row.last_ok_at is not None and row.failures == 0


def test_every_browser_of_the_person_gets_it_and_a_gone_one_is_removed(
    channel: WebPushChannel, push_service: PushService, hub_db: Database
) -> None:
    """Test that a 410 deletes that subscription while another browser's push succeeds."""
    push_service.subscribe(hub_db, "gone")
    push_service.subscribe(hub_db, "ok")
    push_service.subscribe(hub_db, "ok", person="p-someone-else")
    result = channel.send(message(make_card(7, severity="warning", drill=True)))
    assert push_service.errors == []
    assert result.ok and result.extra == {"accepted": 1, "removed": 1, "failed": 0}
    assert sorted(r.path for r in push_service.received) == ["/gone/0", "/ok/1"]
    assert all(r.headers["urgency"] == "normal" for r in push_service.received)
    payload = push_service.received[-1].payload
    assert payload is not None and payload["drill"] is True and payload["tag"] == "alarm-7"
    assert payload["title"].startswith("【演练】")
    assert [r.endpoint.rsplit("/", 2)[-2] for r in rows(hub_db)] == ["ok", "ok"]


def test_no_subscription_left_is_not_retryable_so_the_dispatcher_falls_back(
    channel: WebPushChannel, push_service: PushService, hub_db: Database
) -> None:
    """Test that no subscription, or only gone ones, answers no_subscription (not retryable)."""
    nothing = channel.send(message())
    assert (nothing.ok, nothing.code, nothing.retryable) == (False, "no_subscription", False)
    assert push_service.received == []

    push_service.subscribe(hub_db, "gone")
    gone = channel.send(message())
    assert (gone.ok, gone.code, gone.retryable) == (False, "no_subscription", False)
    assert gone.extra["removed"] == 1
    assert rows(hub_db) == []


def test_a_push_service_down_is_retryable_and_counted(
    channel: WebPushChannel, push_service: PushService, hub_db: Database
) -> None:
    """Test that a 503 (and an unreachable service) is a retryable failure that keeps the subscription."""
    push_service.subscribe(hub_db, "down")
    result = channel.send(message())
    assert (result.ok, result.code, result.retryable) == (False, "503", True)
    (row,) = rows(hub_db)
    assert row.failures == 1

    with hub_db.session() as session:
        session.add(
            PushSubscription(
                person_id="p-offline",
                endpoint="http://127.0.0.1:9/nothing-listens",
                p256dh=Browser().p256dh,
                auth=b64url(os.urandom(16)),
                created_at=datetime.now(UTC),
                failures=0,
            )
        )
    unreachable = channel.send(message(person="p-offline"))
    assert (unreachable.ok, unreachable.code, unreachable.retryable) == (False, "network", True)


def test_a_digest_says_how_many_alarms_and_lists_them() -> None:
    """Test the payload of a digest: N alarms in the title, one line each in the body, no action links."""
    cards = (make_card(1), make_card(2, severity="warning"), make_card(3, severity="info"))
    payload = build_payload(Message(job_id="j", cards=cards, recipient=Recipient(PERSON, "韩梅")), PUBLIC_URL)
    assert payload["title"].startswith("3 条")
    assert payload["body"].splitlines() == [f"11-29 02:14:07 {card.title}" for card in cards]
    assert payload["alarm_id"] == 1 and payload["tag"] == "alarm-1" and payload["critical"] is True
    assert payload["links"] == {"acknowledge": None, "on_my_way": None, "open": f"{PUBLIC_URL}/worker"}


def test_a_long_body_is_clipped_to_fit_a_push_message() -> None:
    """Test that 200 alarms in a digest still make a payload under the push services' 4 KiB."""
    cards = tuple(make_card(i) for i in range(200))
    payload = build_payload(Message(job_id="j", cards=cards, recipient=Recipient(PERSON, "韩梅")), PUBLIC_URL)
    assert len(encode_payload(payload)) <= MAX_PAYLOAD_BYTES
    assert payload["body"].endswith("…")


def test_vapid_keys_are_made_once_private_and_kept(tmp_path: Path) -> None:
    """Test that the pair is generated 0600 on first use and the same pair is loaded after."""
    first = load_vapid_keys(tmp_path)
    directory = tmp_path / VAPID_DIR
    assert (directory / PRIVATE_FILE).stat().st_mode & 0o777 == 0o600
    assert (directory / PUBLIC_FILE).read_text().strip() == first.public_key
    raw = unb64url(first.public_key)
    assert len(raw) == 65 and raw[0] == 4
    (directory / PUBLIC_FILE).unlink()
    again = load_vapid_keys(tmp_path)
    assert again.private_pem == first.private_pem and again.public_key == first.public_key
    assert (directory / PUBLIC_FILE).exists()


def test_the_channel_config_is_strict() -> None:
    """Test that a webpush entry needs a mailto:/https contact and refuses unknown keys."""
    with pytest.raises(ValueError, match="mailto"):
        WebPushConfig(id="w", type="webpush", contact="ops@example.org")
    with pytest.raises(ValueError, match="address"):
        WebPushConfig.model_validate({"id": "w", "type": "webpush", "contact": CONTACT, "address": "x"})


# ---------- the API


@dataclass
class PushApi:
    url: str
    client: httpx.Client
    signer: TokenSigner
    compound: Compound
    db: Database
    public_key: str

    def auth(self, person: str = PERSON) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.signer.issue_for(self.compound, person)}"}


@pytest.fixture
def push_api(hub_db: Database, compound: Compound, tmp_path: Path) -> Iterator[PushApi]:
    service = AlarmService(hub_db, compound, changes=AlarmChanges())
    signer = TokenSigner(SECRET)
    app = create_app(WebContext(compound=compound, service=service, signer=signer))
    keys = attach_vapid(app, tmp_path / "data")
    served = ServedApp(app).start()
    try:
        with httpx.Client(base_url=served.url, timeout=20.0, headers={"Origin": served.url}) as client:
            yield PushApi(served.url, client, signer, compound, hub_db, keys.public_key)
    finally:
        served.stop()


def subscription_json(endpoint: str = "https://fcm.googleapis.com/fcm/send/abc:def") -> dict[str, Any]:
    return {
        "endpoint": endpoint,
        "expirationTime": None,
        "keys": {"p256dh": Browser().p256dh, "auth": b64url(os.urandom(16))},
    }


def test_the_key_is_public_and_a_signed_in_person_registers_and_removes_a_subscription(push_api: PushApi) -> None:
    """Test GET /push/key, then POST and DELETE /push/subscriptions for the signed-in person."""
    key = push_api.client.get("/api/v1/push/key")
    assert key.status_code == 200 and key.json() == {"public_key": push_api.public_key}

    body = subscription_json()
    assert push_api.client.post("/api/v1/push/subscriptions", json=body).status_code == 401
    created = push_api.client.post("/api/v1/push/subscriptions", json=body, headers=push_api.auth())
    assert created.status_code == 201, created.text
    assert created.json() == {"person": PERSON, "endpoint": body["endpoint"]}
    # The same browser again, now signed in as someone else: the row is taken over, not duplicated.
    other = (
        "p-li-qiang"
        if "p-li-qiang" in push_api.compound.people
        else next(p for p in push_api.compound.people if p != PERSON)
    )
    again = push_api.client.post("/api/v1/push/subscriptions", json=body, headers=push_api.auth(other))
    assert again.status_code == 201
    (row,) = rows(push_api.db)
    assert (row.person_id, row.endpoint, row.p256dh) == (other, body["endpoint"], body["keys"]["p256dh"])

    gone = {"endpoint": body["endpoint"]}
    assert (
        push_api.client.request("DELETE", "/api/v1/push/subscriptions", json=gone, headers=push_api.auth()).status_code
        == 404
    )
    deleted = push_api.client.request("DELETE", "/api/v1/push/subscriptions", json=gone, headers=push_api.auth(other))
    assert deleted.status_code == 204
    assert rows(push_api.db) == []


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"endpoint": "http://fcm.googleapis.com/fcm/send/x"}, "https"),
        ({"endpoint": "https://127.0.0.1/push"}, "internet"),
        ({"endpoint": "https://10.1.2.3/push"}, "internet"),
        ({"endpoint": "https://localhost:8080/push"}, "internet"),
        ({"endpoint": "https://user:pw@push.example.org/x"}, "https"),
        ({"keys": {"p256dh": "A" * 87, "auth": "AAAAAAAAAAAAAAAAAAAAAA"}}, "P-256"),
        ({"keys": {"p256dh": "BAAA", "auth": "AAAAAAAAAAAAAAAAAAAAAA"}}, "at least"),
        ({"keys": {"auth": "AAAAAAAAAAAAAAAAAAAAAA"}}, "p256dh"),
        ({"surprise": 1}, "surprise"),
        ({"expirationTime": "soon"}, "expirationTime"),
    ],
)
def test_a_subscription_of_the_wrong_shape_is_refused(push_api: PushApi, change: dict[str, Any], why: str) -> None:
    """Test that the subscription body is validated strictly (422) and nothing is stored."""
    body = subscription_json() | change
    response = push_api.client.post("/api/v1/push/subscriptions", json=body, headers=push_api.auth())
    assert response.status_code == 422, response.text
    assert why in response.text
    assert rows(push_api.db) == []


def test_a_cross_site_write_with_the_session_cookie_is_refused(push_api: PushApi) -> None:
    """Test that the Origin check guards the push writes like every other cookie-authenticated write."""
    from hub.web.auth import SESSION_COOKIE, TokenUse

    session = push_api.signer.issue(PERSON, 3600, use=TokenUse.SESSION)
    cookies = {SESSION_COOKIE: session}
    evil = {"Origin": "https://evil.example"}
    with httpx.Client(base_url=push_api.url, cookies=cookies) as browser:
        refused = browser.post("/api/v1/push/subscriptions", json=subscription_json(), headers=evil)
        assert refused.status_code == 403
        same = browser.post("/api/v1/push/subscriptions", json=subscription_json(), headers={"Origin": push_api.url})
        assert same.status_code == 201, same.text


def test_the_service_worker_is_served_for_the_whole_site(push_api: PushApi) -> None:
    """Test /sw.js: JavaScript, scope / allowed, and a CSP that lets it fetch the hub (not the APIs' 'none')."""
    response = push_api.client.get("/sw.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/javascript")
    assert response.headers["service-worker-allowed"] == "/"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert "showNotification" in response.text


def test_without_vapid_keys_the_key_route_says_so(hub_db: Database, compound: Compound) -> None:
    """Test that an app built without ``attach_vapid`` answers 404 on the key, not a server error."""
    service = AlarmService(hub_db, compound, changes=AlarmChanges())
    served = ServedApp(create_app(WebContext(compound=compound, service=service, signer=TokenSigner(SECRET)))).start()
    try:
        response = httpx.get(f"{served.url}/api/v1/push/key", timeout=10)
        assert response.status_code == 404
    finally:
        served.stop()
