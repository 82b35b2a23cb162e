"""``GET /api/v1/alarms`` paged with a cursor (keyset) in the console's order, and ``/api/v1/alarms/summary``."""

from __future__ import annotations

from compound import wire
from hub.alarm_states import OPEN_STATES
from tests.hub.helpers import make_event
from tests.hub.web.conftest import WebHub

MANAGER = "p-han-mei"
B2U1_WORKER = "p-wang-li"

# (device, kind, severity): more than one page of alarms across every segment of the console's order.
ALARMS = [
    ("b1-u1-101-smoke", wire.EventKind.SMOKE, wire.Severity.CRITICAL),
    ("b2-u1-1502-smoke", wire.EventKind.SMOKE, wire.Severity.CRITICAL),
    ("b2-u1-1502-gas", wire.EventKind.GAS_PRE_ALARM, wire.Severity.WARNING),
    ("b3-u1-601-gas", wire.EventKind.GAS_PRE_ALARM, wire.Severity.WARNING),
    ("b4-u3-2304-smoke", wire.EventKind.LOW_BATTERY, wire.Severity.INFO),
    ("b1-u1-101-smoke", wire.EventKind.LOW_BATTERY, wire.Severity.INFO),
    ("b2-u1-1502-smoke", wire.EventKind.LOW_BATTERY, wire.Severity.INFO),
    ("b3-u1-601-smoke", wire.EventKind.SMOKE, wire.Severity.CRITICAL),
]


def _raise_all(web: WebHub) -> list[int]:
    for device, kind, severity in ALARMS:
        web.seq += 1
        web.feed(make_event(web.compound, device, seq=web.seq, kind=kind, severity=severity))
    return [a.id for a in sorted(web.service.list_alarms(limit=100), key=lambda a: a.id)]


def _attention_key(alarm: dict[str, object]) -> tuple[int, int, int]:
    closed = 0 if alarm["state"] in OPEN_STATES else 1
    rank = ["critical", "warning", "info"].index(str(alarm["severity"]))
    return closed, rank, -int(str(alarm["id"]))


def _pages(web: WebHub, who: str, limit: int, **params: str) -> list[list[dict[str, object]]]:
    pages: list[list[dict[str, object]]] = []
    cursor: str | None = None
    for _ in range(50):
        query = {"order": "attention", "limit": str(limit), **params, **({"cursor": cursor} if cursor else {})}
        response = web.client.get("/api/v1/alarms", params=query, headers=web.auth(who))
        assert response.status_code == 200, response.text
        pages.append(response.json())
        cursor = response.headers.get("X-Next-Cursor")
        if cursor is None:
            return pages
    raise AssertionError("the cursor never ran out")


def test_pages_walk_every_alarm_once_in_the_consoles_order(web: WebHub) -> None:
    """Test that pages of 3 hand out every alarm once: open before resolved, critical → warning → info, newest first."""
    ids = _raise_all(web)
    for alarm_id in ids[:3]:  # the three oldest are resolved: they sort after every open one
        response = web.client.post(
            f"/api/v1/alarms/{alarm_id}/resolve", json={"note": "已处理"}, headers=web.auth(MANAGER)
        )
        assert response.status_code == 200, response.text
    pages = _pages(web, MANAGER, limit=3)
    walked = [a for page in pages for a in page]
    assert [len(p) for p in pages] == [3, 3, 2]
    assert sorted(int(str(a["id"])) for a in walked) == ids
    assert walked == sorted(walked, key=_attention_key)
    assert [a["state"] for a in walked][-3:] == ["resolved"] * 3
    assert walked[0]["severity"] == "critical" and walked[0]["id"] == max(ids)


def test_a_new_alarm_does_not_shift_the_pages_already_read(web: WebHub) -> None:
    """Test that an alarm raised between two pages is not repeated or skipped on the next page (keyset, no offset)."""
    _raise_all(web)
    first = web.client.get("/api/v1/alarms", params={"order": "attention", "limit": 4}, headers=web.auth(MANAGER))
    cursor = first.headers["X-Next-Cursor"]
    web.seq += 1
    web.feed(make_event(web.compound, "b4-u3-2304-gas", seq=web.seq, kind=wire.EventKind.GAS))
    rest = _pages_from(web, cursor)
    seen = [a["id"] for a in first.json()] + [a["id"] for a in rest]
    assert len(seen) == len(set(seen)) == len(ALARMS)  # the new one is above the first page, not in the rest


def _pages_from(web: WebHub, cursor: str) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    next_cursor: str | None = cursor
    while next_cursor:
        params = {"order": "attention", "limit": "4", "cursor": next_cursor}
        response = web.client.get("/api/v1/alarms", params=params, headers=web.auth(MANAGER))
        assert response.status_code == 200, response.text
        out += response.json()
        next_cursor = response.headers.get("X-Next-Cursor")
    return out


def test_filters_and_grids_hold_across_pages(web: WebHub) -> None:
    """Test that a kind filter and a grid worker's grids apply to every page, and the newest order pages by id."""
    ids = _raise_all(web)
    batteries = [a for page in _pages(web, MANAGER, limit=1, kind="low_battery") for a in page]
    assert [a["kind"] for a in batteries] == ["low_battery"] * 3
    worker = [a for page in _pages(web, B2U1_WORKER, limit=2) for a in page]
    assert worker and all(str(a["device"]).startswith("b2-u1-") for a in worker)
    newest: list[int] = []
    cursor: str | None = None
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        response = web.client.get("/api/v1/alarms", params=params, headers=web.auth(MANAGER))
        newest += [int(a["id"]) for a in response.json()]
        cursor = response.headers.get("X-Next-Cursor")
        if cursor is None:
            break
    assert newest == sorted(ids, reverse=True)


def test_a_cursor_no_page_handed_out_is_refused_with_its_reason(web: WebHub) -> None:
    """Test that a malformed cursor, or one naming a segment the order lacks, is a 422 that says what is wrong."""
    for cursor, words in (("abc", "is not '<segment>.<id>'"), ("7.12", "out of range"), ("0.0", "out of range")):
        response = web.client.get(
            "/api/v1/alarms", params={"order": "attention", "cursor": cursor}, headers=web.auth(MANAGER)
        )
        assert response.status_code == 422 and words in response.text, response.text
    newest = web.client.get("/api/v1/alarms", params={"cursor": "3.5"}, headers=web.auth(MANAGER))
    assert newest.status_code == 422 and "'newest'" in newest.text


def test_summary_counts_every_open_alarm_not_one_page(web: WebHub) -> None:
    """Test that the counters cover every open alarm in the caller's grids, however small the page."""
    ids = _raise_all(web)
    web.client.post(f"/api/v1/alarms/{ids[0]}/acknowledge", headers=web.auth(MANAGER))
    web.client.post(f"/api/v1/alarms/{ids[1]}/resolve", json={"note": "已处理"}, headers=web.auth(MANAGER))
    summary = web.client.get("/api/v1/alarms/summary", headers=web.auth(MANAGER)).json()
    assert summary == {"open": 7, "critical": 2, "unacknowledged": 6}
    mine = web.client.get("/api/v1/alarms/summary", headers=web.auth(B2U1_WORKER)).json()
    assert mine["open"] == 2  # b2-u1-1502's gas pre-alarm and low battery (its smoke alarm was resolved)
