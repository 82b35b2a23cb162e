"""``GET /api/v1/history/alarms``: search by time, place, kind, state and person, paged on the server, within grids."""

from __future__ import annotations

from datetime import timedelta

from compound import wire
from tests.hub.helpers import NIGHT
from tests.hub.web.conftest import WebHub

MANAGER = "p-han-mei"
B2U1_WORKER = "p-wang-li"


def _search(web: WebHub, who: str, **params: str | int) -> dict[str, object]:
    response = web.client.get("/api/v1/history/alarms", params=params, headers=web.auth(who))
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def _ids(page: dict[str, object]) -> list[int]:
    items = page["items"]
    assert isinstance(items, list)
    return [int(a["id"]) for a in items]


def test_search_filters_and_pages(web: WebHub) -> None:
    """Test each filter, the total across pages, newest first, and the grid rule."""
    fire = web.raise_alarm("b2-u1-1502-smoke", at=NIGHT)
    gas = web.raise_alarm("b2-u1-1502-gas", wire.EventKind.GAS, at=NIGHT + timedelta(hours=1))
    other = web.raise_alarm("b1-u1-101-smoke", at=NIGHT + timedelta(hours=2))
    south = web.raise_alarm("b4-u3-2304-smoke", at=NIGHT + timedelta(hours=3))
    web.client.post(f"/api/v1/alarms/{other}/acknowledge", headers=web.auth(MANAGER))

    everything = _search(web, MANAGER)
    assert everything["total"] == 4 and _ids(everything) == [south, other, gas, fire]
    first = _search(web, MANAGER, limit=3)
    second = _search(web, MANAGER, limit=3, offset=3)
    assert first["total"] == second["total"] == 4 and _ids(first) + _ids(second) == [south, other, gas, fire]
    assert _ids(_search(web, MANAGER, building="b2", unit="u1", flat="1502")) == [gas, fire]
    assert _ids(_search(web, MANAGER, kind="gas")) == [gas]
    assert _ids(_search(web, MANAGER, state="acknowledged")) == [other]
    assert _ids(_search(web, MANAGER, person=MANAGER)) == [other]  # acted on it
    routed_to = web.client.get(f"/api/v1/alarms/{south}", headers=web.auth(MANAGER)).json()["assignees"][0]
    assert south in _ids(_search(web, MANAGER, person=routed_to))
    window = {
        "from": (NIGHT + timedelta(minutes=30)).isoformat(),
        "to": (NIGHT + timedelta(hours=2, minutes=30)).isoformat(),
    }
    assert _ids(_search(web, MANAGER, **window)) == [other, gas]
    local = {"from": "2026-11-21T03:30:00", "to": "2026-11-21T05:30:00"}  # Asia/Shanghai: NIGHT is 02:00 local
    assert _ids(_search(web, MANAGER, **local)) == [south, other]

    assert _ids(_search(web, B2U1_WORKER)) == [gas, fire]
    assert _ids(_search(web, B2U1_WORKER, building="b4")) == []
    bad = web.client.get(
        "/api/v1/history/alarms", params={"from": NIGHT.isoformat(), "to": NIGHT.isoformat()}, headers=web.auth(MANAGER)
    )
    assert bad.status_code == 422
    assert web.client.get("/api/v1/history/alarms").status_code == 401
