"""SMS and voice calls: a small provider interface and one HTTP JSON provider.

``SmsProvider.send(phone, text, voice)`` is all a provider does; ``SmsChannel`` is the personal channel on top
(the recipient's address on it is their phone). The text is short: one segment (70 characters) where the link
leaves room: the title (which names the place), the place when the title does not, and one link (the
recipient's signed "open" link, else their acknowledge link, else the alarm). A voice call reads the title
and place, without a link.

``HttpSmsProvider`` POSTs ``{"phone", "text", "voice", "sign_name", "template"}`` as JSON to the configured URL
with the API key in a header and reads ``{"code": "OK" | other, "message": …}``, the shape of the common
Chinese SMS gateways' JSON answers (Aliyun SMS answers ``"Code": "OK"``; either spelling of the key is read).
A code in ``throttle_codes`` (default Aliyun's flow control, ``isv.BUSINESS_LIMIT_CONTROL``) is "too fast";
a code in ``fatal_codes`` (bad number, no credit, bad signature or template) cannot be fixed by a retry.

Gateways limit per phone number (Aliyun by default: 1 a minute, 5 an hour, 10 a day to one number), which a
channel-wide bucket cannot model: ``default_rate`` is None and the gateway's own flow-control code throttles.

```yaml
- id: sms
  type: sms
  url: https://sms-gateway.compound.example/send
  api_key_file: secrets/sms.key
  sign_name: 阳光花园物业
```
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal, Protocol, Self

import httpx
from pydantic import Field, model_validator

from hub.notify.channels import register_channel_type
from hub.notify.channels.base import Channel, ChannelConfig, ChannelContext, DeliveryResult, Message, RateLimit
from hub.notify.channels.common import JSON_HEADERS, HttpChannel, http_status_result, json_bytes, read_secret
from hub.notify.render import render_sms, title

__all__ = ["HttpSmsProvider", "SmsChannel", "SmsConfig", "SmsProvider", "sms_text"]

PHONE = re.compile(r"\+?[0-9 ()-]{5,24}")


class SmsProvider(Protocol):
    """Sends one SMS (or places one voice call) to one phone."""

    def send(self, phone: str, text: str, voice: bool) -> DeliveryResult:
        """Send once, within the provider's timeout; never raise for a gateway or network error."""
        ...


class SmsConfig(ChannelConfig):
    """An HTTP SMS / voice gateway taking JSON."""

    type: Literal["sms"]
    url: str = Field(pattern=r"^https?://", description="The gateway's send endpoint.")
    api_key: str | None = Field(default=None, min_length=1, description="API key (a secret).")
    api_key_file: str | None = Field(
        default=None, min_length=1, description="File holding the API key (relative: to the data dir)."
    )
    api_key_header: str = Field(
        default="X-Api-Key", pattern=r"^[A-Za-z0-9-]{1,64}$", description="Header carrying the API key."
    )
    voice: bool = Field(default=False, description="Place a voice call reading the message instead of an SMS.")
    sign_name: str | None = Field(default=None, max_length=40, description="The registered SMS signature (签名).")
    template: str | None = Field(default=None, max_length=80, description="The gateway's template id, if any.")
    throttle_codes: tuple[str, ...] = Field(
        default=("isv.BUSINESS_LIMIT_CONTROL",), description="Answer codes meaning 'too fast'."
    )
    fatal_codes: tuple[str, ...] = Field(
        default=(
            "isv.MOBILE_NUMBER_ILLEGAL",
            "isv.AMOUNT_NOT_ENOUGH",
            "isv.SMS_SIGNATURE_ILLEGAL",
            "isv.SMS_TEMPLATE_ILLEGAL",
            "isv.BLACK_KEY_CONTROL_LIMIT",
        ),
        description="Answer codes a retry cannot fix.",
    )
    throttle_s: float = Field(default=60.0, ge=0, le=3600, description="How long a 'too fast' answer blocks.")

    group: ClassVar[bool] = False
    default_rate: ClassVar[RateLimit | None] = None

    @model_validator(mode="after")
    def _one_key(self) -> Self:
        if (self.api_key is None) == (self.api_key_file is None):
            raise ValueError("an sms channel needs exactly one of api_key, api_key_file")
        return self


class HttpSmsProvider(HttpChannel):
    """A gateway answering ``{"code": "OK" | other, "message": …}`` to a JSON POST."""

    def __init__(self, config: SmsConfig, api_key: str, client: httpx.Client | None = None) -> None:
        super().__init__(config, client)
        self._config = config
        self._api_key = api_key

    def send(self, phone: str, text: str, voice: bool) -> DeliveryResult:
        """POST one message; the answer's ``code`` decides."""
        cfg = self._config
        body: dict[str, Any] = {"phone": phone, "text": text, "voice": voice}
        if cfg.sign_name:
            body["sign_name"] = cfg.sign_name
        if cfg.template:
            body["template"] = cfg.template
        headers = dict(JSON_HEADERS)
        headers[cfg.api_key_header] = self._api_key
        answer = self._post(cfg.url, content=json_bytes(body), headers=headers)
        if isinstance(answer, DeliveryResult):
            return answer
        try:
            data: Any = answer.json()
        except ValueError:
            data = None
        code = None
        if isinstance(data, dict):
            code = data.get("code", data.get("Code"))
        if not isinstance(code, str):
            if answer.is_success:
                return DeliveryResult(ok=False, code=str(answer.status_code), detail="no code in the gateway's answer")
            return http_status_result(answer, cooldown_s=cfg.throttle_s)
        detail = str(data.get("message", data.get("Message", "")))
        if code == "OK":
            extra = {"biz_id": data["biz_id"]} if "biz_id" in data else {}
            return DeliveryResult(ok=True, code=code, detail=detail, extra=extra)
        if code in cfg.throttle_codes:
            return DeliveryResult(ok=False, code=code, detail=detail, retryable=True, throttled_for_s=cfg.throttle_s)
        return DeliveryResult(ok=False, code=code, detail=detail, retryable=code not in cfg.fatal_codes)


def sms_text(message: Message, lang: str, voice: bool) -> str:
    """The short text of ``message``: title (+ place) + one link for SMS, title + place for a voice call."""
    cards = list(message.cards)
    if voice:
        card = cards[0]
        head = title(cards, lang)
        return head if card.place.building in head else f"{head} {card.place.label()}"
    links = message.links if len(cards) == 1 else None
    link = None
    if links is not None:
        link = links.open or links.acknowledge
    return render_sms(cards, link=link, lang=lang)


class SmsChannel:
    """The personal SMS / voice channel: the recipient's address is their phone."""

    def __init__(self, config: SmsConfig, provider: SmsProvider) -> None:
        self.config: ChannelConfig = config
        self._config = config
        self.provider = provider

    def send(self, message: Message) -> DeliveryResult:
        """Send once through the provider."""
        recipient = message.recipient
        if recipient is None or not recipient.address or not PHONE.fullmatch(recipient.address):
            return DeliveryResult(
                ok=False,
                code="recipient",
                detail="sms is a personal channel: the recipient needs a phone",
                retryable=False,
            )
        text = sms_text(message, self._config.lang, self._config.voice)
        return self.provider.send(recipient.address, text, self._config.voice)

    def close(self) -> None:
        """Close the provider's connections, if it has any."""
        close = getattr(self.provider, "close", None)
        if callable(close):
            close()


def build(config: ChannelConfig, context: ChannelContext) -> Channel:
    """The registry's factory."""
    if not isinstance(config, SmsConfig):
        raise TypeError(f"sms channel built from {type(config).__name__}")
    key = read_secret(config.api_key, config.api_key_file, context.data_dir, f"channel {config.id}")
    return SmsChannel(config, HttpSmsProvider(config, key or ""))


register_channel_type("sms", SmsConfig, build)
