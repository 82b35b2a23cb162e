"""A TCP proxy the fault suite controls: put it between a client and the broker, then cut or slow the link.

Written on asyncio (no proxy library is installed; Toxiproxy is a separate Go server) and run on its own event
loop in a thread. ``cut()`` resets every connection and refuses new ones (they are accepted and closed at once,
as a dead link looks to a client) until ``restore()``; ``slow(latency_s, rate_bps)`` delays every chunk by
``latency_s`` (order kept) and throttles each direction to ``rate_bps`` bytes/s; ``slow(0, None)`` undoes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass

from tests.support import free_port

__all__ = ["LinkProxy"]


@dataclass
class _Shape:
    latency_s: float = 0.0
    rate_bps: float | None = None


class LinkProxy:
    """``127.0.0.1:<port>`` forwarding to ``target_host:target_port``."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.shape = _Shape()
        self.connections = 0
        """Connections accepted so far (refused ones too)."""
        self._cut = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"proxy-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> LinkProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=10)
        return self

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await self._drop_all()
        tasks = [t for t in asyncio.all_tasks(self._loop) if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def cut(self) -> None:
        """Reset every connection now and refuse new ones until ``restore()``."""
        self._cut = True
        asyncio.run_coroutine_threadsafe(self._drop_all(), self._loop).result(timeout=10)

    def restore(self) -> None:
        self._cut = False

    def slow(self, latency_s: float, rate_bps: float | None) -> None:
        """Delay each chunk by ``latency_s`` and throttle each direction to ``rate_bps`` (None: unthrottled)."""
        self.shape = _Shape(latency_s, rate_bps)

    async def _drop_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self._cut:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        pumps = [asyncio.create_task(self._pump(reader, up_writer)), asyncio.create_task(self._pump(up_reader, writer))]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pumps:
                task.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy one direction, each chunk held until ``latency`` after it arrived (so order is kept)."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def send() -> None:
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                writer.write(data)
                await writer.drain()
                rate = self.shape.rate_bps
                if rate:
                    await asyncio.sleep(len(data) / rate)

        sender = asyncio.create_task(send())
        try:
            while True:
                data = await reader.read(4096)
                if not data:
                    break
                queue.put_nowait((time.monotonic() + self.shape.latency_s, data))
            while not queue.empty() and not sender.done():
                await asyncio.sleep(0.01)
        except (OSError, ConnectionError):
            pass
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError, ConnectionError):
                await sender
