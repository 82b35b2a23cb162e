"""The edge publisher's window: PUBACKs refill it from paho's thread while the agent's loop stores, and every row
reaches the broker once, in outbox order, and is deleted."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.outbox import Lane, Outbox
from edge.publisher import LastWill, Publisher
from tests.servers import MosquittoServer
from tests.support import wait_for

pytestmark = pytest.mark.broker

EVENTS = "compound/v1/t/e1/event/d1"
READINGS = "compound/v1/t/e1/reading/d1"


def test_rows_stored_while_the_window_is_busy_arrive_once_in_order(mosquitto: MosquittoServer, tmp_path: Path) -> None:
    """Test that events stored in ticks of 100 (one transaction each) and readings stored between them, while the
    publisher is sending with a small window, all reach a subscriber exactly once and in outbox order per lane,
    and that every row is deleted once acknowledged."""
    received: dict[str, list[bytes]] = {EVENTS: [], READINGS: []}
    lock = threading.Lock()
    subscribed = threading.Event()

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with lock:
            received[message.topic].append(message.payload)

    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="sub", protocol=mqtt.MQTTv311)
    sub.on_message = on_message
    sub.on_subscribe = lambda *args: subscribed.set()
    sub.connect(mosquitto.host, mosquitto.port)
    sub.subscribe([(EVENTS, 1), (READINGS, 1)])
    sub.loop_start()
    assert subscribed.wait(10)

    events, readings = 1200, 120
    box = Outbox(tmp_path / "outbox.db", max_messages=events + readings + 10)

    async def main() -> Publisher:
        status = LastWill("compound/v1/t/e1/status", lambda: b"online", lambda: b"offline")
        pub = Publisher(box, host=mosquitto.host, port=mosquitto.port, client_id="e1", status=status, window=8)
        pub.start()
        pump = asyncio.create_task(pub.run())
        while not pub.connected.is_set():
            await asyncio.sleep(0.01)
        for tick in range(events // 100):
            box.put_sequenced_many([(lambda seq: (EVENTS, b"%d" % seq), {"last": str(tick)}) for _ in range(100)])
            box.put_many([(READINGS, b"%d" % (tick * 10 + i)) for i in range(10)], lane=Lane.READING)
            pub.poke()
            await asyncio.sleep(0)
        for _ in range(3000):
            if pub.acked == events + readings:
                break
            pub.poke()
            await asyncio.sleep(0.01)
        pump.cancel()
        await pub.stop()
        return pub

    try:
        pub = asyncio.run(main())
        assert pub.acked == pub.published == events + readings
        assert box.depth() == 0
        wait_for(lambda: len(received[EVENTS]) + len(received[READINGS]) >= events + readings, what="every message")
        with lock:
            assert received[EVENTS] == [b"%d" % seq for seq in range(1, events + 1)]
            assert received[READINGS] == [b"%d" % i for i in range(readings)]
    finally:
        sub.loop_stop()
        sub.disconnect()
        box.close()
