"""Notification channels: the interface an alarm change is handed to once routed.

The console's live push is the first channel; SMS, app push, voice calls, silences and escalation
timers (a later issue) implement or wrap the same ``Notifier`` protocol.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from hub.alarms.schemas import AlarmChange
from hub.routing.router import RoutingDecision

__all__ = ["Notifier", "Notifiers", "register_notifier"]

log = logging.getLogger(__name__)


class Notifier(Protocol):
    """A channel that tells people about alarm changes; must not block (queue and return)."""

    name: str

    def notify(self, change: AlarmChange, decision: RoutingDecision | None) -> None:
        """Hand one change (with the routing decision when the alarm was just routed) to the channel."""
        ...


NOTIFIERS: dict[str, Callable[[], Notifier]] = {}
"""Name-keyed registry of channel factories (filled by channel modules)."""


def register_notifier(name: str, factory: Callable[[], Notifier]) -> None:
    """Make a channel available by name."""
    NOTIFIERS[name] = factory


class Notifiers:
    """Fan-out to several channels; a failing channel is logged and never stops the others."""

    def __init__(self, channels: Sequence[Notifier] = ()) -> None:
        self.channels = list(channels)

    def add(self, channel: Notifier) -> None:
        """Add a channel."""
        self.channels.append(channel)

    def notify(self, change: AlarmChange, decision: RoutingDecision | None) -> None:
        """Hand the change to every channel."""
        for channel in self.channels:
            try:
                channel.notify(change, decision)
            except Exception:
                log.exception("notifier %s failed on alarm %d", channel.name, change.alarm.id)
