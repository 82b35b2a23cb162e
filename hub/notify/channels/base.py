"""What a channel is: it gets a ``Message`` (cards, a recipient, action links) and answers a ``DeliveryResult``.

A channel never decides whether to send, when to retry or whom to fall back to: the dispatcher does, from
the durable job rows. A channel sends once, within its timeout, and reports exactly what the platform said —
the platform's own code, not only the HTTP status (WeCom, DingTalk and Feishu answer HTTP 200 with an error
code for a rate limit or a bad signature).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from pydantic import Field

from compound.config.base import Id, Strict
from hub.notify.card import ActionLinks, AlertCard

if TYPE_CHECKING:
    from hub.db import Database

__all__ = [
    "Channel",
    "ChannelConfig",
    "ChannelContext",
    "DeliveryResult",
    "Message",
    "RateLimit",
    "Recipient",
]


class RateLimit(Strict):
    """A platform's sending limit for one robot or endpoint; past it the dispatcher merges into a digest."""

    per_minute: int | None = Field(default=None, ge=1, le=100000, description="Messages per rolling minute.")
    per_second: int | None = Field(default=None, ge=1, le=10000, description="Messages per second.")
    cooldown_s: float = Field(
        default=60.0, ge=0, le=3600, description="How long the platform blocks after answering 'too fast'."
    )


class ChannelConfig(Strict):
    """Fields every entry of ``configs/channels.yaml`` has; each channel type extends it with its own."""

    id: Id
    type: str
    lang: Literal["zh", "en"] = Field(default="zh", description="Language of the messages this channel sends.")
    timeout_s: float = Field(default=10.0, gt=0, le=120, description="Per-request timeout.")
    max_attempts: int = Field(default=5, ge=1, le=50, description="Tries before the job fails over.")
    drill_only: bool = Field(default=False, description="Only for drills (a test group).")

    group: ClassVar[bool] = False
    """True for a channel that posts into a shared chat (no recipient, never personal data)."""
    needs_address: ClassVar[bool] = True
    """A personal channel that needs the person's address on it (``people.yaml`` ``contacts``); Web Push and the
    in-app inbox do not."""
    default_rate: ClassVar[RateLimit | None] = None
    """The platform's documented limit, used when the entry sets no ``rate``."""

    rate: RateLimit | None = Field(default=None, description="Override of the platform's documented limit.")

    def effective_rate(self) -> RateLimit | None:
        """The limit in force: the entry's ``rate`` or the platform's default."""
        return self.rate or self.default_rate


@dataclass(frozen=True, slots=True)
class Recipient:
    """A person on a personal channel, with their address on it (a phone, an ntfy topic; none for Web Push,
    whose subscriptions the channel reads from the database)."""

    person: str
    name: str
    address: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """What one delivery attempt sends. ``cards`` holds one card, or several for a digest (every alarm listed)."""

    job_id: str
    """Stable across retries and hub restarts: the idempotency key where a platform accepts one."""
    cards: tuple[AlertCard, ...]
    recipient: Recipient | None = None
    """``None`` on a group channel."""
    links: ActionLinks | None = None
    """Signed action links for ``recipient`` (single card only); ``None`` on a group channel."""

    @property
    def digest(self) -> bool:
        """Several alarms merged into one message (the channel was over its rate limit)."""
        return len(self.cards) > 1


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What the platform answered to one attempt."""

    ok: bool
    code: str | None = None
    """The platform's own result code ("0", "45009", "130101", "19021"), or the HTTP status where it has none."""
    detail: str = ""
    retryable: bool = True
    """False for errors a retry cannot fix (bad signature, unknown robot, no subscription): fall back at once."""
    throttled_for_s: float | None = None
    """The platform said "too fast": send nothing more on this channel for this long."""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChannelContext:
    """What a channel factory may use besides its config."""

    data_dir: Path
    public_url: str
    """The hub's address as people's phones reach it (links in messages)."""
    db: Database | None = None


class Channel(Protocol):
    """A delivery channel built from one ``channels.yaml`` entry."""

    config: ChannelConfig

    def send(self, message: Message) -> DeliveryResult:
        """Send once (blocking, bounded by ``config.timeout_s``); never raise for a platform error."""
        ...
