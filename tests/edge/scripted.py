"""A scripted edge for end-to-end tests: the real outbox, journal, publisher and resend handler, fed by the test.

It stands in for the rule engine when a test needs to choose the events (ids, seqs, timing) itself; what it
publishes and how it answers ``cmd/resend`` is exactly what ``compound edge`` does.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from compound import wire
from compound.config import Compound
from edge.outbox import Outbox
from edge.publisher import LastWill, Publisher
from edge.resend import ResendHandler


class ScriptedEdge:
    """Outbox + Publisher + ResendHandler of one edge, on an asyncio loop in its own thread."""

    def __init__(
        self,
        compound: Compound,
        edge: str,
        host: str,
        port: int,
        data_dir: Path,
        *,
        fallbacks: Sequence[tuple[str, int]] = (),
        failover_after_s: float = 3.0,
    ) -> None:
        self.compound = compound
        self.edge = edge
        self.outbox = Outbox(data_dir / f"edge-{edge}" / "outbox.db", synchronous="NORMAL")
        self.resend = ResendHandler(self.outbox, compound.id, edge, prefix=compound.prefix)
        status = wire.topic(compound.id, edge, wire.MessageType.STATUS, prefix=compound.prefix)

        def state(value: wire.EdgeState) -> Callable[[], bytes]:
            return lambda: wire.dump(wire.Status(compound=compound.id, edge=edge, state=value))

        self.publisher = Publisher(
            self.outbox,
            host=host,
            port=port,
            client_id=f"edge-{compound.id}-{edge}",
            status=LastWill(status, state(wire.EdgeState.ONLINE), state(wire.EdgeState.OFFLINE)),
            commands=[self.resend.topic],
            on_command=self.resend.handle,
            fallbacks=fallbacks,
            failover_after_s=failover_after_s,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name=f"edge-{edge}", daemon=True)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.publisher.start()
        pump = asyncio.create_task(self.publisher.run())
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            pump.cancel()
            await self.publisher.stop()

    def start(self, timeout: float = 15.0) -> ScriptedEdge:
        self._thread.start()
        assert self._ready.wait(timeout), "scripted edge did not start"
        assert self.publisher.connected.wait(timeout), "scripted edge did not connect"
        return self

    def put(self, event: Callable[[int], wire.Event]) -> int:
        """Store one event built for its seq (as the agent does) and wake the publisher; return the seq."""

        def build(seq: int) -> tuple[str, bytes]:
            msg = event(seq)
            kind = wire.MessageType.EVENT
            return wire.topic(self.compound.id, self.edge, kind, msg.device, prefix=self.compound.prefix), wire.dump(
                msg
            )

        seq = self.outbox.put_sequenced(build)
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self.publisher.poke)
        return seq

    def stop(self, timeout: float = 15.0) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        self.outbox.close()
