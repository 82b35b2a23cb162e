"""Web Push (RFC 8030/8291/8292): an alarm as a notification on the phones and desktops a person enabled push in.

A personal channel with no address in ``people.yaml``: the recipient's browsers registered themselves through
``POST /api/v1/push/subscriptions`` and the channel reads their rows from the database. Each subscription gets the
payload encrypted for it (``aes128gcm``) and signed with the hub's VAPID key (``<data-dir>/vapid/``). The service
worker (``hub/web/static/sw.js``) shows it with "确认" and "在路上" buttons that POST the signed action links.

Outcome: ok when at least one push service accepted (201/202); a 404 or 410 means that browser's subscription is
gone, so its row is deleted; a person with no subscription left gets ``no_subscription`` (not retryable), and the
dispatcher falls back to their next channel. Chrome's push service (FCM) is not reachable from mainland China:
Web Push is one channel of several, never the only one for a fire.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

import requests
from py_vapid import Vapid02
from pydantic import Field, field_validator
from pywebpush import WebPushException, webpush
from sqlalchemy import select

from hub.db import Database
from hub.db.push import PushSubscription, subscriptions_of
from hub.notify.card import AlertCard
from hub.notify.channels import register_channel_type
from hub.notify.channels.base import Channel, ChannelConfig, ChannelContext, DeliveryResult, Message
from hub.notify.render import clip_bytes, title
from hub.notify.vapid import VapidKeys, load_vapid_keys

__all__ = ["MAX_PAYLOAD_BYTES", "WebPushChannel", "WebPushConfig", "build_payload", "encode_payload"]

log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 3000
"""Push services take 4096 bytes of encrypted body (RFC 8291 leaves 3993 for the plaintext); keep a margin."""

_ACCEPTED = frozenset({200, 201, 202})
_GONE = frozenset({404, 410})


class WebPushConfig(ChannelConfig):
    """A ``channels.yaml`` entry of type ``webpush``."""

    type: Literal["webpush"]
    needs_address: ClassVar[bool] = False
    """Its addresses are the browsers a person subscribed (``push_subscriptions``), not ``people.yaml``."""
    contact: str = Field(
        description="VAPID 'sub' claim: how a push service reaches the hub's operator ('mailto:ops@example.org')."
    )
    ttl_s: int = Field(
        default=900,
        ge=0,
        le=2419200,
        description="How long a push service keeps a message for a phone that is offline (0: deliver now or drop).",
    )
    urgency: Literal["very-low", "low", "normal", "high"] = Field(
        default="normal", description="RFC 8030 Urgency of non-critical alarms; critical alarms are always 'high'."
    )

    @field_validator("contact")
    @classmethod
    def _contact(cls, value: str) -> str:
        if not (value.startswith("mailto:") and "@" in value) and not value.startswith("https://"):
            raise ValueError("must be a mailto: address or an https:// URL")
        return value


def _body(card: AlertCard) -> str:
    lines = [card.place.label(), card.measured, card.raised_at_local]
    if card.escalation_note:
        lines.append(card.escalation_note)
    return "\n".join(line for line in lines if line)


def _digest_body(cards: tuple[AlertCard, ...]) -> str:
    return "\n".join(f"{card.raised_at_local} {card.title}" for card in cards)


def build_payload(message: Message, public_url: str) -> dict[str, Any]:
    """What the service worker gets: title, body, the first card's alarm and tag, drill, the action links."""
    if not message.cards:
        raise ValueError("nothing to send: no cards")
    first = message.cards[0]
    links = message.links
    worker = public_url.rstrip("/") + "/worker"
    if message.digest:
        body = _digest_body(message.cards)
        open_url = links.open if links is not None and links.open else worker
    else:
        body = _body(first)
        open_url = links.open if links is not None and links.open else f"{worker}#/alarms/{first.alarm_id}"
    single = links if links is not None and not message.digest else None
    payload: dict[str, Any] = {
        "title": clip_bytes(title(message.cards), 300),
        "body": body,
        "alarm_id": first.alarm_id,
        "tag": f"alarm-{first.alarm_id}",
        "drill": all(card.drill for card in message.cards),
        "critical": any(card.severity == "critical" for card in message.cards),
        "links": {
            "acknowledge": single.acknowledge if single is not None else None,
            "on_my_way": single.on_my_way if single is not None else None,
            "open": open_url,
        },
    }
    # Clip the body until the payload as sent fits (JSON escapes make it longer than the text: "\n" is 2 bytes).
    room = MAX_PAYLOAD_BYTES - len(encode_payload({**payload, "body": ""}))
    while len(encode_payload(payload)) > MAX_PAYLOAD_BYTES and room > 0:
        payload["body"] = clip_bytes(body, room)
        room -= 64
    return payload


def encode_payload(payload: dict[str, Any]) -> bytes:
    """The payload as it is encrypted and sent: compact UTF-8 JSON."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True, slots=True)
class _Sent:
    endpoint: str
    status: int | None
    detail: str


class WebPushChannel:
    """Sends a ``Message`` to every push subscription of its recipient."""

    def __init__(self, config: WebPushConfig, db: Database, keys: VapidKeys, public_url: str) -> None:
        self.config: ChannelConfig = config
        self._config = config
        self.db = db
        self.keys = keys
        self.public_url = public_url
        self._vapid = Vapid02.from_pem(keys.private_pem)

    def _send_one(self, row: PushSubscription, data: str, urgency: str) -> _Sent:
        info = {"endpoint": row.endpoint, "keys": {"p256dh": row.p256dh, "auth": row.auth}}
        host = urlsplit(row.endpoint).netloc
        try:
            response = webpush(
                info,
                data,
                vapid_private_key=self._vapid,
                vapid_claims={"sub": self._config.contact},  # a fresh dict: pywebpush adds aud and exp to it
                content_encoding="aes128gcm",
                timeout=self._config.timeout_s,
                ttl=self._config.ttl_s,
                headers={"Urgency": urgency},
            )
        except WebPushException as exc:
            status = exc.response.status_code if exc.response is not None else None
            text = exc.response.text[:200] if exc.response is not None else str(exc)[:200]
            return _Sent(row.endpoint, status, f"HTTP {status} from {host}: {text}")
        except requests.RequestException as exc:
            return _Sent(row.endpoint, None, f"{type(exc).__name__} posting to {host}")
        except (ValueError, TypeError) as exc:  # a stored key the encryption refuses
            return _Sent(row.endpoint, 400, f"bad subscription for {host}: {exc}")
        return _Sent(row.endpoint, int(getattr(response, "status_code", 201)), f"accepted by {host}")

    def send(self, message: Message) -> DeliveryResult:
        """Push to each of the recipient's browsers once; ok when any push service accepted."""
        if message.recipient is None:
            return DeliveryResult(ok=False, code="no_recipient", detail="web push is personal", retryable=False)
        person = message.recipient.person
        with self.db.session() as session:
            rows = subscriptions_of(session, person)
            session.expunge_all()
        if not rows:
            return DeliveryResult(
                ok=False, code="no_subscription", detail=f"{person} has no push subscription", retryable=False
            )
        payload = build_payload(message, self.public_url)
        data = encode_payload(payload).decode("utf-8")
        urgency = "high" if payload["critical"] else self._config.urgency
        results = [self._send_one(row, data, urgency) for row in rows]
        accepted = [r for r in results if r.status in _ACCEPTED]
        gone = [r for r in results if r.status in _GONE]
        failed = [r for r in results if r not in accepted and r not in gone]
        self._record(accepted, gone, failed)
        extra = {"accepted": len(accepted), "removed": len(gone), "failed": len(failed)}
        for sent in gone:
            log.info("push subscription of %s is gone (%s); removed", person, sent.detail)
        if accepted:
            return DeliveryResult(ok=True, code=str(accepted[0].status), detail=accepted[0].detail, extra=extra)
        if not failed:
            return DeliveryResult(
                ok=False,
                code="no_subscription",
                detail=f"every push subscription of {person} is gone: {gone[0].detail}",
                retryable=False,
                extra=extra,
            )
        worst = failed[-1]
        status = worst.status
        retryable = status is None or status in (408, 425, 429) or status >= 500
        return DeliveryResult(
            ok=False,
            code=str(status) if status is not None else "network",
            detail=worst.detail,
            retryable=retryable,
            throttled_for_s=60.0 if status == 429 else None,
            extra=extra,
        )

    def _record(self, accepted: list[_Sent], gone: list[_Sent], failed: list[_Sent]) -> None:
        now = datetime.now(UTC)
        with self.db.session() as session:
            if gone:
                for row in session.scalars(
                    select(PushSubscription).where(PushSubscription.endpoint.in_([s.endpoint for s in gone]))
                ):
                    session.delete(row)
            for sent in accepted:
                kept = session.scalar(select(PushSubscription).where(PushSubscription.endpoint == sent.endpoint))
                if kept is not None:
                    kept.last_ok_at, kept.failures = now, 0
            for sent in failed:
                kept = session.scalar(select(PushSubscription).where(PushSubscription.endpoint == sent.endpoint))
                if kept is not None:
                    kept.failures = (kept.failures or 0) + 1


def build(config: ChannelConfig, context: ChannelContext) -> Channel:
    """A ``WebPushChannel``: the hub's VAPID keys from the data dir, subscriptions from the hub's database."""
    if not isinstance(config, WebPushConfig):
        raise TypeError(f"webpush channel built from {type(config).__name__}")
    if context.db is None:
        raise ValueError(f"channel {config.id!r}: web push needs the hub's database (its subscriptions)")
    return WebPushChannel(config, context.db, load_vapid_keys(context.data_dir), context.public_url)


register_channel_type("webpush", WebPushConfig, build)
