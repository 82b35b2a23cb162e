"""ntfy (self-hosted push): one message to one person's topic, with tap-to-acknowledge.

``POST {base_url}/{topic}`` where the topic is the recipient's address on this channel (a personal channel:
a message without a recipient is refused, not sent). Headers: ``X-Title``, ``X-Priority`` (critical 5,
warning 4, info 3), ``X-Tags`` and ``X-Actions``: an ``http`` action 确认 that POSTs to the signed acknowledge
link and clears the notification, and a ``view`` action that opens the alarm (signed, on the worker page).
Non-ASCII header values go RFC 2047 encoded (``=?UTF-8?B?…?=``), which ntfy decodes; the body is plain
text ≤ 4096 bytes. An access token (``token_file``) goes as ``Authorization: Bearer``.

ntfy answers 200 with the message as JSON; 429 when the hub is over its visitor limit (throttled, retryable);
401/403 (token) and other 4xx are not retryable; 5xx are.

```yaml
- id: ntfy
  type: ntfy
  base_url: https://ntfy.compound.example
  token_file: secrets/ntfy.token
```
"""

from __future__ import annotations

import base64
import re
from typing import ClassVar, Literal

import httpx
from pydantic import Field, model_validator

from hub.notify.card import AlertCard
from hub.notify.channels import register_channel_type
from hub.notify.channels.base import Channel, ChannelConfig, ChannelContext, DeliveryResult, Message, RateLimit
from hub.notify.channels.common import HttpChannel, http_status_result, read_secret
from hub.notify.render import NTFY_BYTES, render, title, words

__all__ = ["NtfyChannel", "NtfyConfig", "header_value", "priority"]

TOPIC = re.compile(r"[-_A-Za-z0-9]{1,64}")
PRIORITY = {"critical": 5, "warning": 4, "info": 3}
TAGS = {"critical": "rotating_light", "warning": "warning", "info": "information_source"}


def header_value(text: str) -> str:
    """``text`` as an HTTP header value: itself when ASCII, else one RFC 2047 encoded-word (ntfy decodes it)."""
    if text.isascii():
        return text
    return "=?UTF-8?B?" + base64.b64encode(text.encode("utf-8")).decode("ascii") + "?="


def priority(cards: tuple[AlertCard, ...] | list[AlertCard]) -> int:
    """ntfy priority of a message: the most severe card's (critical 5, warning 4, anything else 3)."""
    return max(PRIORITY.get(card.severity, 3) for card in cards)


def _action_value(value: str) -> str:
    # ntfy's short action format separates fields with "," and actions with ";": quote a value holding either.
    return f'"{value}"' if ("," in value or ";" in value) else value


class NtfyConfig(ChannelConfig):
    """An ntfy server; each recipient's topic is their address on this channel."""

    type: Literal["ntfy"]
    base_url: str = Field(pattern=r"^https?://", description="The ntfy server, e.g. https://ntfy.compound.example.")
    token: str | None = Field(default=None, min_length=1, description="Access token (a secret).")
    token_file: str | None = Field(
        default=None, min_length=1, description="File holding the access token (relative: to the data dir)."
    )

    group: ClassVar[bool] = False
    default_rate: ClassVar[RateLimit | None] = RateLimit(per_minute=60, cooldown_s=60.0)
    """ntfy's default visitor limit: a burst of 60 requests, refilled one every 5 s (a server may set others)."""

    @model_validator(mode="after")
    def _one_token(self) -> NtfyConfig:
        if self.token is not None and self.token_file is not None:
            raise ValueError("an ntfy channel takes token or token_file, not both")
        return self


class NtfyChannel(HttpChannel):
    """Publishes to one ntfy server, one recipient's topic per message."""

    def __init__(self, config: NtfyConfig, context: ChannelContext, client: httpx.Client | None = None) -> None:
        super().__init__(config, client)
        self._config = config
        self._token = read_secret(config.token, config.token_file, context.data_dir, f"channel {config.id}")
        self.console_url = context.public_url

    def request(self, message: Message) -> tuple[str, dict[str, str], bytes]:
        """URL, headers and body for ``message`` (which must have a recipient with an address)."""
        cfg = self._config
        if message.recipient is None or not message.recipient.address:
            raise ValueError("ntfy is a personal channel: the message needs a recipient with a topic")
        if not TOPIC.fullmatch(message.recipient.address):
            raise ValueError(f"{message.recipient.address!r} is not an ntfy topic ([-_A-Za-z0-9]{{1,64}})")
        w = words(cfg.lang)
        cards = list(message.cards)
        links = message.links if len(cards) == 1 else None
        body = render(cards, fmt="text", lang=cfg.lang, links=links, console_url=self.console_url, limit=NTFY_BYTES)
        tags = [TAGS.get(card.severity, "bell") for card in cards[:1]]
        if any(card.drill for card in cards):
            tags.append("drill")
        tags.extend(tag for tag in cards[0].tags if tag not in tags)
        actions = []
        if links is not None:
            ack = _action_value(links.acknowledge)
            actions.append(f"http, {w['acknowledge_short']}, {ack}, method=POST, clear=true")
            if links.open:
                actions.append(f"view, {w['open']}, {_action_value(links.open)}")
        else:
            view = cards[0].alarm_url if len(cards) == 1 else self.console_url
            actions.append(f"view, {w['view_short']}, {_action_value(view)}")
        headers = {
            "X-Title": header_value(title(cards, cfg.lang)),
            "X-Priority": str(priority(cards)),
            "X-Tags": header_value(",".join(tags)),
            "X-Actions": header_value("; ".join(actions[:3])),
            "Content-Type": "text/plain; charset=utf-8",
        }
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        url = f"{cfg.base_url.rstrip('/')}/{message.recipient.address}"
        return url, headers, body.encode("utf-8")

    def send(self, message: Message) -> DeliveryResult:
        """Publish once; the HTTP status decides (429: throttled)."""
        try:
            url, headers, body = self.request(message)
        except ValueError as exc:
            return DeliveryResult(ok=False, code="recipient", detail=str(exc), retryable=False)
        answer = self._post(url, content=body, headers=headers)
        if isinstance(answer, DeliveryResult):
            return answer
        if answer.status_code == 200:
            try:
                ntfy_id = answer.json().get("id")
            except (ValueError, AttributeError):
                ntfy_id = None
            return DeliveryResult(ok=True, code="200", extra={"id": ntfy_id} if ntfy_id else {})
        rate = self._config.effective_rate()
        return http_status_result(answer, cooldown_s=rate.cooldown_s if rate else 60.0)


def build(config: ChannelConfig, context: ChannelContext) -> Channel:
    """The registry's factory."""
    if not isinstance(config, NtfyConfig):
        raise TypeError(f"ntfy channel built from {type(config).__name__}")
    return NtfyChannel(config, context)


register_channel_type("ntfy", NtfyConfig, build)
