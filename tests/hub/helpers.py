"""Helpers for hub tests: event builders, a paho publisher, an in-thread hub, polling with a timeout."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from compound import wire
from compound.config import Compound
from hub.ingest import Inbound, Ingestor, MessagePipeline

NIGHT = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)  # 02:00 Friday in Asia/Shanghai
DAY = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)  # 14:00 Friday in Asia/Shanghai


def make_event(
    compound: Compound,
    device_id: str,
    *,
    seq: int,
    kind: wire.EventKind | str = wire.EventKind.SMOKE,
    state: wire.EventState | str = wire.EventState.RAISED,
    severity: wire.Severity | str = wire.Severity.CRITICAL,
    at: datetime = NIGHT,
    value: float | None = 0.31,
    edge: str | None = None,
    event_id: str | None = None,
) -> wire.Event:
    """A valid event for a device of the sample compound."""
    device = compound.devices[device_id]
    return wire.Event(
        id=event_id or uuid.uuid4().hex,
        seq=seq,
        compound=compound.id,
        edge=edge or device.edge,
        device=device_id,
        kind=wire.EventKind(kind),
        state=wire.EventState(state),
        severity=wire.Severity(severity),
        value=value,
        unit="dB/m",
        threshold=0.15,
        location=wire.Location(
            building=device.building, unit=device.unit, floor=device.floor, flat=device.flat, place=device.place
        ),
        occurred_at=at,
    )


def event_topic(compound: Compound, msg: wire.Event) -> str:
    """The topic an edge publishes this event on."""
    return wire.topic(compound.id, msg.edge, wire.MessageType.EVENT, msg.device, prefix=compound.prefix)


class Publisher:
    """A plain paho client publishing at QoS 1 and waiting for each PUBACK."""

    def __init__(self, host: str, port: int, client_id: str | None = None) -> None:
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id or f"pub-{uuid.uuid4().hex[:8]}"
        )
        self.client.max_inflight_messages_set(100)
        self.client.connect(host, port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes, qos: int = 1, timeout: float = 10.0) -> None:
        info = self.client.publish(topic, payload, qos=qos)
        info.wait_for_publish(timeout)
        assert info.is_published(), f"publish to {topic} not acknowledged"

    def event(self, compound: Compound, msg: wire.Event) -> None:
        self.publish(event_topic(compound, msg), wire.dump(msg))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class HubThread:
    """Runs an ``Ingestor`` in its own thread and event loop; ``stop()`` stops it cleanly."""

    def __init__(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._main, name="hub-test", daemon=True)

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await self.ingestor.run(self._stop)

        try:
            asyncio.run(main())
        except BaseException as exc:  # surfaced by stop()
            self.error = exc

    def start(self, timeout: float = 20.0) -> HubThread:
        self.thread.start()
        assert self._ready.wait(timeout), "hub loop did not start"
        assert self.ingestor.subscribed.wait(timeout), "hub did not subscribe"
        return self

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()

    def stop(self, timeout: float = 30.0) -> None:
        if self._loop is not None and self._stop is not None and self.thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "hub did not stop"
        if self.error is not None:
            raise self.error


def event_dict(msg: wire.Event, **changes: Any) -> dict[str, Any]:
    """The wire JSON of an event as a dict, with some keys replaced (to build bad payloads)."""
    import json

    data: dict[str, Any] = json.loads(wire.dump(msg))
    data.update(changes)
    return data


def received(ingestor: Ingestor, topic: str, payload: bytes) -> Inbound:
    """Hand a message to the ingestor as paho's network thread does; return what it queued (no broker)."""
    message = mqtt.MQTTMessage(mid=1, topic=topic.encode())
    message.payload = payload
    message.qos = 1
    ingestor._on_message(None, None, message)  # type: ignore[arg-type]
    return ingestor._inbox.get_nowait()


def feed(pipeline: MessagePipeline, compound: Compound, *events: wire.Event, at: datetime | None = None) -> None:
    """Hand events to a pipeline as one batch, received ``at`` (default: now), without a broker."""
    when = at or datetime.now(UTC)
    pipeline.process([Inbound(event_topic(compound, e), wire.dump(e), when) for e in events])
