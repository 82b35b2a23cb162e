"""DingTalk (钉钉) custom robot: an ``actionCard`` (markdown text, 查看 / 确认 buttons) to a group chat.

Security as DingTalk documents it: signing (``secret``: the ``SEC…`` string; ``timestamp`` in milliseconds
and ``sign = urlencode(base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")))`` appended to the
webhook as ``&timestamp=…&sign=…``; DingTalk refuses a timestamp more than an hour off) and/or ``keywords``
(each message must contain one: when the text holds none, the first is added as its last line).

The robot answers HTTP 200 with ``errcode``: 0 sent; 130101 "send too fast" (20 a minute; DingTalk then
blocks the robot for 10 minutes: throttled for 600 s); 310000 keyword / signature / timestamp / IP refused and
300001 an unknown access_token (neither retryable). Buttons are plain links (a custom robot gets no callback):
both open the alarm on the console, where 确认 acknowledges after sign-in. A group channel: ``group_card``
only, no personal links.

```yaml
- id: dingtalk-property
  type: dingtalk
  access_token_file: secrets/dingtalk.token   # or access_token: …, or url: https://oapi.dingtalk.com/robot/send?access_token=…
  secret_file: secrets/dingtalk.sec           # the robot's 加签 secret (SEC…), optional
  keywords: [报警]                            # the robot's 自定义关键词, optional
```
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import ClassVar, Literal, Self
from urllib.parse import quote, quote_plus

import httpx
from pydantic import Field, model_validator

from hub.notify.channels import register_channel_type
from hub.notify.channels.base import Channel, ChannelConfig, ChannelContext, DeliveryResult, Message, RateLimit
from hub.notify.channels.common import JSON_HEADERS, HttpChannel, json_bytes, read_secret, robot_result
from hub.notify.render import DINGTALK_MARKDOWN_BYTES, group_card, render, strip_personal, title, words

__all__ = ["DingTalkChannel", "DingTalkConfig", "dingtalk_sign"]

DINGTALK_URL = "https://oapi.dingtalk.com/robot/send"
TOO_FAST = 130101
REFUSED = 310000
UNKNOWN_TOKEN = 300001
BLOCK_S = 600.0
"""DingTalk blocks a robot for 10 minutes after it sent more than 20 messages in a minute."""


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """The ``sign`` query value: urlencoded base64 of HMAC-SHA256(key=secret, msg=f"{timestamp_ms}\\n{secret}")."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode("ascii"))


class DingTalkConfig(ChannelConfig):
    """A DingTalk custom robot: its webhook (``url``, or ``access_token`` inline or in a file), its signing secret
    and keywords."""

    type: Literal["dingtalk"]
    url: str | None = Field(
        default=None, pattern=r"^https?://", description="The webhook URL, access_token included (a secret)."
    )
    access_token: str | None = Field(default=None, min_length=1, description="The robot's access_token (a secret).")
    access_token_file: str | None = Field(
        default=None, min_length=1, description="File holding the access_token (relative: to the data dir)."
    )
    base_url: str = Field(default=DINGTALK_URL, pattern=r"^https?://", description="The endpoint for access_token.")
    secret: str | None = Field(default=None, min_length=1, description="The 加签 secret (SEC…), to sign with.")
    secret_file: str | None = Field(
        default=None, min_length=1, description="File holding the 加签 secret (relative: to the data dir)."
    )
    keywords: tuple[str, ...] = Field(
        default=(), max_length=10, description="The robot's keywords: every message carries one."
    )

    group: ClassVar[bool] = True
    default_rate: ClassVar[RateLimit | None] = RateLimit(per_minute=20, cooldown_s=BLOCK_S)

    @model_validator(mode="after")
    def _one_each(self) -> Self:
        given = [name for name in ("url", "access_token", "access_token_file") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                f"a dingtalk channel needs exactly one of url, access_token, access_token_file (got {given or 'none'})"
            )
        if self.secret is not None and self.secret_file is not None:
            raise ValueError("a dingtalk channel takes secret or secret_file, not both")
        return self


class DingTalkChannel(HttpChannel):
    """Sends to one DingTalk custom robot."""

    def __init__(
        self,
        config: DingTalkConfig,
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
            token = read_secret(config.access_token, config.access_token_file, context.data_dir, what)
            self.url = f"{config.base_url}?access_token={quote(token or '', safe='')}"
        self._secret = read_secret(config.secret, config.secret_file, context.data_dir, what)
        self._clock = clock
        self.console_url = context.public_url

    def signed_url(self) -> str:
        """The webhook URL, with ``&timestamp=…&sign=…`` when the robot signs."""
        if self._secret is None:
            return self.url
        ts = int(self._clock() * 1000)
        joiner = "&" if "?" in self.url else "?"
        return f"{self.url}{joiner}timestamp={ts}&sign={dingtalk_sign(self._secret, ts)}"

    def payload(self, message: Message) -> dict[str, object]:
        """The ``actionCard`` body for ``message`` (group face of every card)."""
        cfg = self._config
        cards = [group_card(card) for card in message.cards]
        w = words(cfg.lang)
        text = render(cards, fmt="markdown", lang=cfg.lang, console_url=self.console_url, limit=DINGTALK_MARKDOWN_BYTES)
        text = strip_personal(text, message.cards)
        heading = strip_personal(title(cards, cfg.lang), message.cards)
        if cfg.keywords and not any(word in text or word in heading for word in cfg.keywords):
            text = f"{text}\n\n{cfg.keywords[0]}"
        # DingTalk's markdown breaks a line only on a blank line or two trailing spaces.
        text = text.replace("\n", "  \n")
        view = cards[0].alarm_url if len(cards) == 1 else self.console_url
        return {
            "msgtype": "actionCard",
            "actionCard": {
                "title": heading,
                "text": text,
                "btnOrientation": "1",
                "btns": [
                    {"title": w["view_short"], "actionURL": view},
                    {"title": w["acknowledge_short"], "actionURL": view},
                ],
            },
        }

    def send(self, message: Message) -> DeliveryResult:
        """Post once (signed now); the robot's ``errcode`` decides."""
        body = json_bytes(self.payload(message))
        answer = self._post(self.signed_url(), content=body, headers=JSON_HEADERS)
        if isinstance(answer, DeliveryResult):
            return answer
        rate = self._config.effective_rate()
        block = rate.cooldown_s if rate else BLOCK_S
        return robot_result(
            answer,
            code_key="errcode",
            message_key="errmsg",
            throttled={TOO_FAST: block},
            fatal=frozenset({REFUSED, UNKNOWN_TOKEN}),
        )


def build(config: ChannelConfig, context: ChannelContext) -> Channel:
    """The registry's factory."""
    if not isinstance(config, DingTalkConfig):
        raise TypeError(f"dingtalk channel built from {type(config).__name__}")
    return DingTalkChannel(config, context)


register_channel_type("dingtalk", DingTalkConfig, build)
