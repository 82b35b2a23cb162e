"""The in-app inbox: the alarm in the person's list on the worker page (and the console's live stream).

Always available and never the only channel for a fire in a real deployment: a delivery here means the
alarm is waiting in the person's list, not that anyone has looked. ``compound up`` uses it (with Web Push)
so the whole loop runs with no outside service.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from hub.notify.channels import register_channel_type
from hub.notify.channels.base import Channel, ChannelConfig, ChannelContext, DeliveryResult, Message

__all__ = ["InboxChannel", "InboxConfig"]


class InboxConfig(ChannelConfig):
    """``type: inbox``: no settings of its own."""

    type: Literal["inbox"]
    needs_address: ClassVar[bool] = False


class InboxChannel:
    """Delivers by having the alarm in the person's list (the hub's own store): it always succeeds."""

    def __init__(self, config: InboxConfig) -> None:
        self.config: ChannelConfig = config

    def send(self, message: Message) -> DeliveryResult:
        alarms = ", ".join(str(card.alarm_id) for card in message.cards)
        return DeliveryResult(ok=True, code="inbox", detail=f"in the worker page's list (alarm {alarms})")


def _build(config: ChannelConfig, context: ChannelContext) -> Channel:
    assert isinstance(config, InboxConfig)
    return InboxChannel(config)


register_channel_type("inbox", InboxConfig, _build)
