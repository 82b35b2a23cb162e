"""Channel plugins: a registry from ``type`` to (config model, factory), filled by the channel modules.

``configs/channels.yaml`` is a list of entries discriminated on ``type``; ``load_channels`` validates each entry
against its type's model (strict: unknown keys and unknown types are errors naming the entry) and builds
the channel. A plugin module calls ``register_channel_type`` at import; built-in types are imported here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hub.notify.channels.base import (
    Channel,
    ChannelConfig,
    ChannelContext,
    DeliveryResult,
    Message,
    RateLimit,
    Recipient,
)

__all__ = [
    "CHANNEL_TYPES",
    "Channel",
    "ChannelConfig",
    "ChannelContext",
    "ChannelType",
    "DeliveryResult",
    "Message",
    "RateLimit",
    "Recipient",
    "register_channel_type",
]


@dataclass(frozen=True, slots=True)
class ChannelType:
    """A channel type: its config model (whose ``type`` field is a ``Literal``) and how to build one."""

    name: str
    config: type[ChannelConfig]
    build: Callable[[ChannelConfig, ChannelContext], Channel]


CHANNEL_TYPES: dict[str, ChannelType] = {}


def register_channel_type(
    name: str, config: type[ChannelConfig], build: Callable[[ChannelConfig, ChannelContext], Channel]
) -> None:
    """Make channel type ``name`` available to ``channels.yaml`` (a plugin calls this at import)."""
    if name in CHANNEL_TYPES and CHANNEL_TYPES[name].config is not config:
        raise ValueError(f"channel type {name!r} is already registered by {CHANNEL_TYPES[name].config.__module__}")
    CHANNEL_TYPES[name] = ChannelType(name, config, build)
