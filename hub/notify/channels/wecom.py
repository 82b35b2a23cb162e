"""WeCom (企业微信) group robot: a markdown (or text) message to a group chat through the robot's webhook.

The key in the webhook URL is the robot's only secret (no signing). The robot answers HTTP 200 with
``{"errcode": 0, "errmsg": "ok"}``; a failure is HTTP 200 with a non-zero ``errcode``: 45009 past the rate
limit (20 a minute per robot: throttled, retryable), 93000 for an invalid webhook (not retryable).

A group channel: it renders ``group_card`` (no care lines, no phone numbers) and never personal action links;
acknowledging is the alarm link on the console.

```yaml
- id: wecom-duty
  type: wecom
  key_file: secrets/wecom-duty.key     # or key: …, or url: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…
```
"""

from __future__ import annotations

from typing import ClassVar, Literal, Self
from urllib.parse import quote

import httpx
from pydantic import Field, model_validator

from hub.notify.channels import register_channel_type
from hub.notify.channels.base import Channel, ChannelConfig, ChannelContext, DeliveryResult, Message, RateLimit
from hub.notify.channels.common import JSON_HEADERS, HttpChannel, json_bytes, read_secret, robot_result
from hub.notify.render import WECOM_MARKDOWN_BYTES, WECOM_TEXT_BYTES, group_card, render, strip_personal

__all__ = ["WeComChannel", "WeComConfig"]

WECOM_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
THROTTLED = 45009
INVALID_WEBHOOK = 93000
FATAL = frozenset({INVALID_WEBHOOK, 40008, 44004})
"""Codes a retry cannot fix: invalid webhook, invalid message type, empty content."""


class WeComConfig(ChannelConfig):
    """A WeCom group robot: its webhook ``url``, or its ``key`` (inline or in ``key_file``) on ``base_url``."""

    type: Literal["wecom"]
    url: str | None = Field(
        default=None, pattern=r"^https?://", description="The robot's webhook URL, key included (a secret)."
    )
    key: str | None = Field(default=None, min_length=1, description="The robot's key (a secret).")
    key_file: str | None = Field(
        default=None, min_length=1, description="File holding the key (relative: to the data dir)."
    )
    base_url: str = Field(default=WECOM_URL, pattern=r"^https?://", description="The webhook endpoint for ``key``.")
    msgtype: Literal["markdown", "text"] = Field(default="markdown", description="Message type sent.")

    group: ClassVar[bool] = True
    default_rate: ClassVar[RateLimit | None] = RateLimit(per_minute=20, cooldown_s=60.0)

    @model_validator(mode="after")
    def _one_address(self) -> Self:
        given = [name for name in ("url", "key", "key_file") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"a wecom channel needs exactly one of url, key, key_file (got {given or 'none'})")
        return self


class WeComChannel(HttpChannel):
    """Sends to one WeCom group robot."""

    def __init__(self, config: WeComConfig, context: ChannelContext, client: httpx.Client | None = None) -> None:
        super().__init__(config, client)
        self._config = config
        if config.url is not None:
            self.url = config.url
        else:
            key = read_secret(config.key, config.key_file, context.data_dir, f"channel {config.id}")
            self.url = f"{config.base_url}?key={quote(key or '', safe='')}"
        self.console_url = context.public_url

    def payload(self, message: Message) -> dict[str, object]:
        """The JSON body for ``message`` (group face of every card, within the type's byte limit)."""
        cards = [group_card(card) for card in message.cards]
        fmt = self._config.msgtype
        limit = WECOM_MARKDOWN_BYTES if fmt == "markdown" else WECOM_TEXT_BYTES
        content = render(cards, fmt=fmt, lang=self._config.lang, console_url=self.console_url, limit=limit)
        content = strip_personal(content, message.cards)
        return {"msgtype": fmt, fmt: {"content": content}}

    def send(self, message: Message) -> DeliveryResult:
        """Post once; the robot's ``errcode`` decides."""
        answer = self._post(self.url, content=json_bytes(self.payload(message)), headers=JSON_HEADERS)
        if isinstance(answer, DeliveryResult):
            return answer
        rate = self._config.effective_rate()
        cooldown = rate.cooldown_s if rate else 60.0
        return robot_result(
            answer, code_key="errcode", message_key="errmsg", throttled={THROTTLED: cooldown}, fatal=FATAL
        )


def build(config: ChannelConfig, context: ChannelContext) -> Channel:
    """The registry's factory."""
    if not isinstance(config, WeComConfig):
        raise TypeError(f"wecom channel built from {type(config).__name__}")
    return WeComChannel(config, context)


register_channel_type("wecom", WeComConfig, build)
