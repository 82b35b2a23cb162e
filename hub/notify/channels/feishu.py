"""Feishu / Lark custom bot: an ``interactive`` card (coloured header, lark_md body, 查看 / 确认 buttons).

Signing as Feishu documents it (``secret``): ``timestamp`` in seconds and
``sign = base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b""))``, both in the JSON body; Feishu refuses a
timestamp more than an hour off. The whole body stays under 20 KB.

The bot answers ``{"code": 0, "msg": "success"}``; 11232, and 9499 "too many request" (with HTTP 400), are
its rate limit (100 a minute and 5 a second per bot: throttled, retryable); 19001 an unknown hook, 19021 a bad
signature, 19022 an IP outside the allow-list, 19024 a missing keyword and 9499 with any other message (a body
it cannot take) are not retryable. Buttons are plain links (a custom bot gets no callback). A group channel:
``group_card`` only, no personal links.

```yaml
- id: feishu-duty
  type: feishu
  hook_file: secrets/feishu.hook   # the id at the end of the webhook; or hook: …, or url: https://open.feishu.cn/open-apis/bot/v2/hook/…
  secret_file: secrets/feishu.sec  # the bot's 签名校验 secret, optional
```
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import replace
from typing import ClassVar, Literal, Self

import httpx
from pydantic import Field, model_validator

from hub.notify.card import AlertCard
from hub.notify.channels import register_channel_type
from hub.notify.channels.base import Channel, ChannelConfig, ChannelContext, DeliveryResult, Message, RateLimit
from hub.notify.channels.common import JSON_HEADERS, HttpChannel, json_bytes, read_secret, robot_result
from hub.notify.render import FEISHU_BODY_BYTES, group_card, render, strip_personal, title, words

__all__ = ["FeishuChannel", "FeishuConfig", "feishu_sign"]

FEISHU_URL = "https://open.feishu.cn/open-apis/bot/v2/hook/"
TOO_FAST = frozenset({11232, 9499})
FATAL = frozenset({19001, 19021, 19022, 19024})
"""Unknown hook, bad signature, IP not allowed, keyword missing: a retry cannot fix them."""
COOLDOWN_S = 10.0
"""Feishu documents no block after "too fast"; a short pause lets its per-second window pass."""


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """The body's ``sign``: base64 of HMAC-SHA256 keyed with f"{timestamp_s}\\n{secret}" over an empty message."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class FeishuConfig(ChannelConfig):
    """A Feishu custom bot: its webhook (``url``, or the ``hook`` id inline or in a file) and signing secret."""

    type: Literal["feishu"]
    url: str | None = Field(default=None, pattern=r"^https?://", description="The webhook URL (a secret).")
    hook: str | None = Field(default=None, min_length=1, description="The hook id ending the webhook URL (a secret).")
    hook_file: str | None = Field(
        default=None, min_length=1, description="File holding the hook id (relative: to the data dir)."
    )
    base_url: str = Field(default=FEISHU_URL, pattern=r"^https?://", description="The webhook URL less the hook id.")
    secret: str | None = Field(default=None, min_length=1, description="The 签名校验 secret, to sign with.")
    secret_file: str | None = Field(
        default=None, min_length=1, description="File holding the signing secret (relative: to the data dir)."
    )

    group: ClassVar[bool] = True
    default_rate: ClassVar[RateLimit | None] = RateLimit(per_minute=100, per_second=5, cooldown_s=COOLDOWN_S)

    @model_validator(mode="after")
    def _one_each(self) -> Self:
        given = [name for name in ("url", "hook", "hook_file") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"a feishu channel needs exactly one of url, hook, hook_file (got {given or 'none'})")
        if self.secret is not None and self.secret_file is not None:
            raise ValueError("a feishu channel takes secret or secret_file, not both")
        return self


def _template(cards: list[AlertCard]) -> str:
    if all(card.drill for card in cards):
        return "purple"
    severities = {card.severity for card in cards if not card.drill}
    if "critical" in severities:
        return "red"
    if "warning" in severities:
        return "orange"
    return "blue"


class FeishuChannel(HttpChannel):
    """Sends to one Feishu custom bot."""

    def __init__(
        self,
        config: FeishuConfig,
        context: ChannelContext,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(config, client)
        self._config = config
        what = f"channel {config.id}"
        if config.url is not None:
            self.url = config.url
        else:
            hook = read_secret(config.hook, config.hook_file, context.data_dir, what)
            self.url = config.base_url.rstrip("/") + "/" + (hook or "")
        self._secret = read_secret(config.secret, config.secret_file, context.data_dir, what)
        self._clock = clock
        self.console_url = context.public_url

    def _card(self, message: Message, cards: list[AlertCard], limit: int) -> dict[str, object]:
        cfg = self._config
        w = words(cfg.lang)
        content = render(cards, fmt="markdown", lang=cfg.lang, console_url=self.console_url, limit=limit)
        view = cards[0].alarm_url if len(cards) == 1 else self.console_url
        return {
            "config": {"wide_screen_mode": True},
            "header": {
                "template": _template(cards),
                "title": {"tag": "plain_text", "content": strip_personal(title(cards, cfg.lang), message.cards)},
            },
            "elements": [
                {"tag": "div", "text": {"tag": "lark_md", "content": strip_personal(content, message.cards)}},
                {
                    "tag": "action",
                    "actions": [
                        {
                            "tag": "button",
                            "text": {"tag": "plain_text", "content": w["view_short"]},
                            "type": "primary",
                            "url": view,
                        },
                        {
                            "tag": "button",
                            "text": {"tag": "plain_text", "content": w["acknowledge_short"]},
                            "type": "danger",
                            "url": view,
                        },
                    ],
                },
            ],
        }

    def payload(self, message: Message) -> dict[str, object]:
        """The body for ``message``: signed when the bot has a secret, under Feishu's 20 KB."""
        cards = [group_card(card) for card in message.cards]
        body: dict[str, object] = {}
        if self._secret is not None:
            ts = int(self._clock())
            body.update(timestamp=str(ts), sign=feishu_sign(self._secret, ts))
        body["msg_type"] = "interactive"
        limit = FEISHU_BODY_BYTES - 1024
        for _ in range(4):  # JSON escaping grows the text: shrink its limit by the overflow until the body fits
            body["card"] = self._card(message, cards, limit)
            over = len(json_bytes(body)) - (FEISHU_BODY_BYTES - 64)
            if over <= 0:
                break
            limit -= over + 256
        return body

    def send(self, message: Message) -> DeliveryResult:
        """Post once; the bot's ``code`` decides (whatever the HTTP status)."""
        answer = self._post(self.url, content=json_bytes(self.payload(message)), headers=JSON_HEADERS)
        if isinstance(answer, DeliveryResult):
            return answer
        rate = self._config.effective_rate()
        cooldown = rate.cooldown_s if rate else COOLDOWN_S
        result = robot_result(
            answer, code_key="code", message_key="msg", throttled=dict.fromkeys(TOO_FAST, cooldown), fatal=FATAL
        )
        if result.code == "9499" and "too many" not in result.detail.lower():
            # 9499 is also Feishu's plain "Bad Request" (a body it cannot take): a retry sends the same body.
            return replace(result, retryable=False, throttled_for_s=None)
        return result


def build(config: ChannelConfig, context: ChannelContext) -> Channel:
    """The registry's factory."""
    if not isinstance(config, FeishuConfig):
        raise TypeError(f"feishu channel built from {type(config).__name__}")
    return FeishuChannel(config, context)


register_channel_type("feishu", FeishuConfig, build)
