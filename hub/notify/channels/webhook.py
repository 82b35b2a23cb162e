"""Generic webhook: the alarm (or digest) as signed JSON to a URL of your own (a building system, a bridge).

Body (UTF-8 JSON): ``job_id``, ``digest``, ``sent_at`` (Unix seconds), ``lang``, ``title``, ``text`` (the
message as plain text), ``cards`` (every alarm, as the card's fields; ``raised_at`` ISO 8601), and on a
personal entry ``recipient`` and ``links``. Headers:

- ``X-Compound-Job``: the job id, stable across retries: the receiver's idempotency key.
- ``X-Compound-Timestamp``: ``sent_at``.
- ``X-Compound-Signature``: ``sha256=`` + hex HMAC-SHA256(secret, body) when the entry has a secret. The body
  holds ``sent_at``, so the signature covers the timestamp: a receiver refuses a stale one.

A 2xx answer is a delivery; 408, 429 (throttled for its ``Retry-After``) and 5xx are retryable; any other 4xx
is not.

Group or personal: ``ChannelConfig.group`` is a class constant, so an entry chooses its class. ``type: webhook``
is a group channel (``group_card``: no care lines, no phone numbers, no recipient, no personal links);
``personal: true`` on the entry validates as ``PersonalWebhookConfig`` (``group`` False), which receives
recipients and their signed links and the full card.

```yaml
- id: bms
  type: webhook
  url: https://bms.compound.example/hooks/alarms
  secret_file: secrets/bms-webhook.key   # or secret: …
  personal: false
```
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, ClassVar, Literal, Self

import httpx
from pydantic import Field, ValidatorFunctionWrapHandler, model_validator

from hub.notify.card import AlertCard
from hub.notify.channels import register_channel_type
from hub.notify.channels.base import Channel, ChannelConfig, ChannelContext, DeliveryResult, Message, RateLimit
from hub.notify.channels.common import JSON_HEADERS, HttpChannel, http_status_result, json_bytes, read_secret
from hub.notify.render import group_card, render, strip_personal, title

__all__ = ["PersonalWebhookConfig", "WebhookChannel", "WebhookConfig", "card_json", "signature"]


def signature(secret: str, body: bytes) -> str:
    """The ``X-Compound-Signature`` value: ``sha256=`` + hex HMAC-SHA256(secret, body)."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def card_json(card: AlertCard) -> dict[str, Any]:
    """A card as JSON-ready data (``raised_at`` as ISO 8601)."""
    data = asdict(card)
    data["raised_at"] = card.raised_at.isoformat()
    data["place_label"] = card.place.label()
    return data


class WebhookConfig(ChannelConfig):
    """A URL of your own that takes signed JSON."""

    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://", description="Where to POST.")
    secret: str | None = Field(default=None, min_length=1, description="HMAC key for X-Compound-Signature.")
    secret_file: str | None = Field(
        default=None, min_length=1, description="File holding the HMAC key (relative: to the data dir)."
    )
    personal: bool = Field(
        default=False, description="True: a personal channel (recipients, signed links, care lines)."
    )

    group: ClassVar[bool] = True
    default_rate: ClassVar[RateLimit | None] = None
    """Your own endpoint: no platform limit (an entry may set ``rate``)."""

    @model_validator(mode="wrap")
    @classmethod
    def _personal_variant(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        model = handler(data)
        if isinstance(model, WebhookConfig) and model.personal and not isinstance(model, PersonalWebhookConfig):
            return PersonalWebhookConfig.model_validate(model.model_dump())
        return model

    @model_validator(mode="after")
    def _one_secret(self) -> Self:
        if self.secret is not None and self.secret_file is not None:
            raise ValueError("a webhook channel takes secret or secret_file, not both")
        return self


class PersonalWebhookConfig(WebhookConfig):
    """A webhook entry with ``personal: true``: messages for one recipient, with the full card."""

    group: ClassVar[bool] = False
    needs_address: ClassVar[bool] = False
    """The URL is the entry's: a recipient needs no address on it."""


class WebhookChannel(HttpChannel):
    """POSTs signed JSON to one URL."""

    def __init__(
        self,
        config: WebhookConfig,
        context: ChannelContext,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(config, client)
        self._config = config
        self._secret = read_secret(config.secret, config.secret_file, context.data_dir, f"channel {config.id}")
        self._clock = clock
        self.console_url = context.public_url

    @property
    def group(self) -> bool:
        """Whether this entry is a group channel (``personal`` not set)."""
        return type(self._config).group

    def body(self, message: Message, sent_at: int) -> dict[str, Any]:
        """The JSON body for ``message``."""
        cfg = self._config
        cards = [group_card(card) for card in message.cards] if self.group else list(message.cards)
        links = message.links if not self.group and len(cards) == 1 else None
        text = render(cards, fmt="text", lang=cfg.lang, links=links, console_url=self.console_url)
        heading = title(cards, cfg.lang)
        if self.group:
            text, heading = strip_personal(text, message.cards), strip_personal(heading, message.cards)
        body: dict[str, Any] = {
            "job_id": message.job_id,
            "digest": message.digest,
            "sent_at": sent_at,
            "lang": cfg.lang,
            "drill": all(card.drill for card in cards),
            "title": heading,
            "text": text,
            "console_url": self.console_url,
            "cards": [card_json(card) for card in cards],
        }
        if not self.group:
            recipient = message.recipient
            body["recipient"] = None if recipient is None else asdict(recipient)
            body["links"] = None if links is None else asdict(links)
        return body

    def send(self, message: Message) -> DeliveryResult:
        """POST once; 2xx is a delivery."""
        sent_at = int(self._clock())
        content = json_bytes(self.body(message, sent_at))
        headers = dict(JSON_HEADERS)
        headers["X-Compound-Job"] = message.job_id
        headers["X-Compound-Timestamp"] = str(sent_at)
        if self._secret is not None:
            headers["X-Compound-Signature"] = signature(self._secret, content)
        answer = self._post(self._config.url, content=content, headers=headers)
        if isinstance(answer, DeliveryResult):
            return answer
        if answer.is_success:
            return DeliveryResult(ok=True, code=str(answer.status_code))
        return http_status_result(answer)


def build(config: ChannelConfig, context: ChannelContext) -> Channel:
    """The registry's factory."""
    if not isinstance(config, WebhookConfig):
        raise TypeError(f"webhook channel built from {type(config).__name__}")
    return WebhookChannel(config, context)


register_channel_type("webhook", WebhookConfig, build)
