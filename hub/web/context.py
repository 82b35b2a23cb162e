"""What the web app needs from the rest of the hub, gathered in one object kept on ``app.state``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from compound.config import Compound
from hub.alarms.service import AlarmService
from hub.notify.links import ActionTokens
from hub.web.accounts import AccountStore, PeopleWatch
from hub.web.auth import DEFAULT_SESSION_TTL_S, TokenSigner
from hub.web.security import RateLimiter

if TYPE_CHECKING:
    from hub.ingest import Ingestor

__all__ = ["BackgroundJob", "HealthSource", "IngestHealth", "WebContext"]

BackgroundJob = Callable[[asyncio.Event], Awaitable[None]]
"""A long-running coroutine started with the app (e.g. ``Ingestor.run``); it returns once the event is set."""


class HealthSource(Protocol):
    """Anything that reports its own health for ``/healthz`` (ingest, time-series sink)."""

    def health(self) -> Mapping[str, Any]:
        """A JSON-able status; ``{"ok": False, ...}`` marks the hub degraded."""
        ...


@dataclass(slots=True)
class WebContext:
    """The compound, the alarm service (with its live changes), the token signer, and background jobs."""

    compound: Compound
    service: AlarmService
    signer: TokenSigner
    session_ttl_s: float = DEFAULT_SESSION_TTL_S
    cookie_secure: bool = False
    background: Sequence[BackgroundJob] = ()
    health_sources: Mapping[str, HealthSource] = field(default_factory=dict)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the server begins to shut down: live streams end so connections can close."""
    failures: dict[str, str] = field(default_factory=dict)
    """Background jobs that ended with an error, by name (reported by ``/healthz``)."""
    accounts: AccountStore | None = None
    """Used login links, revoked tokens, the audit log; by default in the alarm service's database."""
    people: PeopleWatch | None = None
    """Who is in ``people.yaml`` now (a removed person is refused at once); by default watches the compound's."""
    sign_in_limit: RateLimiter = field(default_factory=RateLimiter)
    action_links: ActionTokens | None = None
    """Verifies the signed links in pushed messages (``/a/<token>``); ``None``: such links are refused."""
    """Per-client limit on sign-in and token endpoints."""

    def __post_init__(self) -> None:
        if self.accounts is None:
            self.accounts = AccountStore(self.service.db)
        if self.people is None:
            self.people = PeopleWatch(self.compound)

    @property
    def account_store(self) -> AccountStore:
        """``accounts``, set by ``__post_init__``."""
        assert self.accounts is not None
        return self.accounts

    @property
    def people_now(self) -> frozenset[str]:
        """Person ids in ``people.yaml`` now."""
        assert self.people is not None
        return self.people.current()


@dataclass(frozen=True, slots=True)
class IngestHealth:
    """``/healthz`` report of an ``Ingestor``: subscribed to the broker or not, and messages processed."""

    ingestor: Ingestor

    def health(self) -> Mapping[str, Any]:
        """``ok`` while the broker has acknowledged the hub's subscription."""
        ingestor = self.ingestor
        subscribed = ingestor.subscribed.is_set()
        return {
            "ok": subscribed,
            "broker": f"{ingestor.host}:{ingestor.port}",
            "subscribed": subscribed,
            "topic_filter": ingestor.topic_filter,
            "processed": ingestor.pipeline.processed,
            "edges_offline": list(ingestor.pipeline.supervisor.offline),
            "stale_devices": len(ingestor.pipeline.supervisor.stale),
            "leads": sorted(ingestor.leadership.held),  # cluster-wide jobs this replica runs (PostgreSQL only)
        }
