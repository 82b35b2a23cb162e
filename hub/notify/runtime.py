"""One hub's notification side, built from the config: channels, action links, cards, the dispatcher.

``hub_app`` builds a ``NotifyRuntime`` and runs it as one of the app's background jobs, so it starts and stops
with the server. The public address (links in messages) is ``--public-url``, or the address the server bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

from compound.clock import Clock
from compound.config import Compound
from hub.alarms.changes import AlarmChanges
from hub.db import Database
from hub.notify.cards import CardMaker
from hub.notify.channels import ChannelConfig, ChannelContext
from hub.notify.dispatcher import Dispatcher
from hub.notify.escalation import ChannelInfo, Escalation
from hub.notify.links import ActionTokens
from hub.notify.settings import build_channels
from hub.routing.router import Router

__all__ = ["NotifyRuntime"]


class NotifyRuntime:
    """The channels, links and dispatcher of one hub process."""

    def __init__(
        self,
        db: Database,
        compound: Compound,
        configs: list[ChannelConfig],
        *,
        data_dir: Path,
        secret_key: str,
        clock: Clock,
        changes: AlarmChanges,
        public_url: str | None = None,
        hub_id: str = "hub",
    ) -> None:
        self.explicit_url = public_url is not None
        url = public_url or "http://127.0.0.1:8080"
        channel_set = build_channels(configs, ChannelContext(data_dir=data_dir, public_url=url, db=db))
        self.infos: Mapping[str, ChannelInfo] = channel_set.infos
        self.links = ActionTokens(secret_key, url, ttl_s=compound.escalation.link_ttl_s)
        self.cards = CardMaker(compound, url)
        self.dispatcher = Dispatcher(
            db,
            compound,
            channel_set.channels,
            Escalation(compound, Router(compound), self.infos),
            self.cards,
            links=self.links,
            clock=clock,
            changes=changes,
            hub_id=hub_id,
        )

    def set_public_url(self, url: str) -> None:
        """The server's bound address, when ``--public-url`` did not name one."""
        if not self.explicit_url:
            self.links.public_url = url
            self.cards.public_url = url.rstrip("/")

    async def run(self, stop: asyncio.Event) -> None:
        """Background job: dispatch until the server stops."""
        self.dispatcher.start()
        try:
            await stop.wait()
        finally:
            await asyncio.to_thread(self.dispatcher.stop)
