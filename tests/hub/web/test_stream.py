"""The live push stream (server-sent events): every change the caller may see, and nothing else."""

from __future__ import annotations

import json
import queue
import threading
from typing import Any

import httpx

from compound import wire
from tests.hub.web.conftest import WebHub
from tests.support import wait_for


def _follow(web: WebHub, person: str, until_device: str, until_change: str, path: str) -> queue.Queue[Any]:
    """Read the stream in a thread until a change of ``until_device`` is ``until_change``; each data item is queued."""
    items: queue.Queue[Any] = queue.Queue()

    def read() -> None:
        try:
            with httpx.stream("GET", f"{web.url}{path}", headers=web.auth(person), timeout=20) as response:
                items.put(("status", response.status_code, response.headers.get("content-type")))
                for line in response.iter_lines():
                    if not line.startswith("data: "):
                        continue
                    change = json.loads(line.removeprefix("data: "))
                    items.put(("change", change))
                    if change["alarm"]["device"] == until_device and change["change"] == until_change:
                        break
        except Exception as exc:  # surfaced by the test through the queue
            items.put(("error", exc))
        finally:
            items.put(("end",))

    threading.Thread(target=read, daemon=True).start()
    return items


def _drain(items: queue.Queue[Any], timeout: float = 20.0) -> list[Any]:
    out: list[Any] = []
    while True:
        item = items.get(timeout=timeout)
        if item[0] == "end":
            return out
        assert item[0] != "error", item[1]
        out.append(item)


def test_stream_pushes_changes_only_within_the_callers_grids(web: WebHub) -> None:
    """Test that a worker's stream carries their grid's alarm changes, including another person's acknowledge,
    and never another grid's alarm."""
    items = _follow(web, "p-wang-li", "b2-u1-1502-smoke", "acknowledged", "/api/v1/alarms/stream")
    wait_for(lambda: web.service.changes.subscribers == 1, timeout=10, what="the stream to subscribe")
    web.raise_alarm("b3-u1-601-smoke")
    mine = web.raise_alarm("b2-u1-1502-smoke")
    ack = web.client.post(f"/api/v1/alarms/{mine}/acknowledge", json={}, headers=web.auth("p-han-mei"))
    assert ack.status_code == 200
    received = _drain(items)
    assert received[0] == ("status", 200, "text/event-stream; charset=utf-8")
    changes = [item[1] for item in received[1:]]
    assert {c["alarm"]["device"] for c in changes} == {"b2-u1-1502-smoke"}
    assert changes[-1]["change"] == "acknowledged" and changes[-1]["alarm"]["state"] == "acknowledged"
    assert all(c["alarm"]["id"] == mine for c in changes)
    wait_for(lambda: web.service.changes.subscribers == 0, timeout=10, what="the closed stream to unsubscribe")


def test_stream_mine_keeps_to_alarms_assigned_to_me(web: WebHub) -> None:
    """Test that ``?mine=true`` gives the on-duty security guard the fire alarm routed to them, not a battery fault."""
    items = _follow(web, "p-song-kai", "b3-u1-601-smoke", "raised", "/api/v1/alarms/stream?mine=true")
    wait_for(lambda: web.service.changes.subscribers == 1, timeout=10, what="the stream to subscribe")
    web.raise_alarm("b4-u3-2304-smoke", kind=wire.EventKind.LOW_BATTERY)  # routed to maintenance
    fire = web.raise_alarm("b3-u1-601-smoke")  # routed to the b3 worker and security on duty at 02:00
    received = _drain(items)
    assert [(c[1]["alarm"]["id"], c[1]["change"]) for c in received[1:]] == [(fire, "raised")]
    assert "p-song-kai" in received[-1][1]["alarm"]["assignees"]


def test_stream_refuses_anonymous_callers(web: WebHub) -> None:
    """Test that the stream needs an account like every other API."""
    response = web.client.get("/api/v1/alarms/stream")
    assert response.status_code == 401
    assert web.service.changes.subscribers == 0
