"""API tests: each refusal of accounts and grid rules, and the alarm lifecycle over HTTP (real SQLite and service)."""

from __future__ import annotations

import base64
import time

import pytest

from compound import wire
from hub.web import TokenSigner
from hub.web.auth import SESSION_COOKIE
from tests.hub.helpers import make_event
from tests.hub.web.conftest import WebHub

MANAGER = "p-han-mei"
B2U1_WORKER = "p-wang-li"  # micro-grid worker of mg-b2-u1 (the kitchen-fire flat's unit)
B2U2_WORKER = "p-zhou-min"  # micro-grid worker of mg-b2-u2 (same building, other unit)
SOUTH_LEADER = "p-lin-tao"  # grid leader of g-south (b3, b4)
NORTH_LEADER = "p-gao-ming"  # grid leader of g-north (b1, b2)
SECURITY = "p-guo-peng"
MAINTENANCE = "p-deng-hao"
FLAT_SMOKE = "b2-u1-1502-smoke"


def test_anonymous_reads_and_writes_are_refused(web: WebHub) -> None:
    """Test that every API call without credentials answers 401 and changes nothing."""
    alarm_id = web.raise_alarm(FLAT_SMOKE)
    for method, path, body in [
        ("GET", "/api/v1/alarms", None),
        ("GET", f"/api/v1/alarms/{alarm_id}", None),
        ("GET", "/api/v1/me", None),
        ("GET", "/api/v1/dead-letters", None),
        ("GET", "/api/v1/alarms/stream", None),
        ("POST", f"/api/v1/alarms/{alarm_id}/acknowledge", {}),
        ("POST", f"/api/v1/alarms/{alarm_id}/resolve", {"note": "done"}),
    ]:
        response = web.client.request(method, path, json=body)
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
    detail = web.service.get_alarm(alarm_id)
    assert detail is not None and detail.state == "raised" and detail.acknowledged_at is None


def _tampered(token: str, person: str, other: str) -> str:
    """The token with its payload rewritten to name ``other`` (the signature is left as it was)."""
    payload, rest = token.split(".", 1)
    data = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert person.encode() in data
    forged = base64.urlsafe_b64encode(data.replace(person.encode(), other.encode())).rstrip(b"=").decode()
    return f"{forged}.{rest}"


@pytest.mark.parametrize("case", ["garbage", "other_key", "expired", "unknown_person", "tampered"])
def test_bad_tokens_are_refused(web: WebHub, case: str) -> None:
    """Test that a token that is garbage, signed with another key, expired, for nobody, or tampered answers 401."""
    alarm_id = web.raise_alarm(FLAT_SMOKE)
    token = {
        "garbage": "not-a-token",
        "other_key": TokenSigner("another-secret-key-0123456789abcdef").issue(MANAGER),
        "expired": web.signer.issue(MANAGER, ttl_s=60, now=time.time() - 3600),
        "unknown_person": web.signer.issue("p-nobody"),
        "tampered": _tampered(web.token(B2U2_WORKER), B2U2_WORKER, MANAGER),
    }[case]
    headers = {"Authorization": f"Bearer {token}"}
    assert web.client.get("/api/v1/alarms", headers=headers).status_code == 401
    response = web.client.post(f"/api/v1/alarms/{alarm_id}/acknowledge", json={}, headers=headers)
    assert response.status_code == 401
    # The same token as a session cookie is refused the same way.
    assert web.client.get("/api/v1/me", headers={"Cookie": f"{SESSION_COOKIE}={token}"}).status_code == 401


def test_worker_cannot_read_or_act_on_another_grids_alarm(web: WebHub) -> None:
    """Test that a micro-grid worker gets 404 for another grid's alarm (read, acknowledge, resolve); nothing changes."""
    alarm_id = web.raise_alarm(FLAT_SMOKE)
    for outsider in (B2U2_WORKER, SOUTH_LEADER):
        headers = web.auth(outsider)
        assert web.client.get(f"/api/v1/alarms/{alarm_id}", headers=headers).status_code == 404
        assert [a["id"] for a in web.client.get("/api/v1/alarms", headers=headers).json()] == []
        ack = web.client.post(f"/api/v1/alarms/{alarm_id}/acknowledge", json={"note": "mine?"}, headers=headers)
        assert ack.status_code == 404
        resolve = web.client.post(f"/api/v1/alarms/{alarm_id}/resolve", json={"note": "closed"}, headers=headers)
        assert resolve.status_code == 404
        # Same answer as for an id that does not exist: existence is not revealed.
        assert web.client.get("/api/v1/alarms/999999", headers=headers).json() == {"detail": "alarm 999999 not found"}
    detail = web.service.get_alarm(alarm_id)
    assert detail is not None and detail.state == "raised"
    assert [h.action for h in detail.history] == ["raise", "route"]
    # The worker of the alarm's own grid and the grid leader above it do see it.
    for insider in (B2U1_WORKER, NORTH_LEADER):
        assert web.client.get(f"/api/v1/alarms/{alarm_id}", headers=web.auth(insider)).status_code == 200


def test_resolve_without_a_note_is_refused(web: WebHub) -> None:
    """Test that resolving with no body, no note, an empty or a blank note answers 422 and leaves the alarm open."""
    alarm_id = web.raise_alarm(FLAT_SMOKE)
    headers = web.auth(MANAGER)
    path = f"/api/v1/alarms/{alarm_id}/resolve"
    assert web.client.post(path, headers=headers).status_code == 422
    for body in ({}, {"note": ""}, {"note": "   "}, {"note": None}):
        assert web.client.post(path, json=body, headers=headers).status_code == 422, body
    detail = web.service.get_alarm(alarm_id)
    assert detail is not None and detail.state == "raised" and detail.resolved_at is None


def test_household_is_shown_only_to_people_responsible_for_the_flat(web: WebHub) -> None:
    """Test that residents appear for the flat's worker, grid leader and managers, never for security or maintenance."""
    alarm_id = web.raise_alarm(FLAT_SMOKE)
    for person in (B2U1_WORKER, NORTH_LEADER, MANAGER, "p-feng-yu"):
        body = web.client.get(f"/api/v1/alarms/{alarm_id}", headers=web.auth(person)).json()
        assert body["household"]["flat"] == "1502", person
        assert [r["name"] for r in body["household"]["residents"]] == ["张建国", "李秀梅", "张小宇"]
    for person in (SECURITY, MAINTENANCE, "p-xu-hong"):
        response = web.client.get(f"/api/v1/alarms/{alarm_id}", headers=web.auth(person))
        assert response.status_code == 200, person
        assert response.json()["household"] is None, person
        assert "张建国" not in response.text, person


def test_care_household_shows_emergency_contact(web: WebHub) -> None:
    """Test that a care household's flag and emergency contact reach the responsible worker."""
    alarm_id = web.raise_alarm("b2-u1-803-smoke")
    body = web.client.get(f"/api/v1/alarms/{alarm_id}", headers=web.auth(B2U1_WORKER)).json()
    assert body["household"]["care"] == {
        "reason": "elderly_alone",
        "emergency_contact": {"name": "王芳", "relation": "女儿", "phone": "+86 136 0000 0803"},
    }


def test_acknowledge_then_resolve_records_who_and_the_notes(web: WebHub) -> None:
    """Test the lifecycle over HTTP: acknowledge with a note, resolve with a note, a second resolve is a 409."""
    alarm_id = web.raise_alarm(FLAT_SMOKE)
    worker = web.auth(B2U1_WORKER)
    ack = web.client.post(f"/api/v1/alarms/{alarm_id}/acknowledge", json={"note": "on my way"}, headers=worker)
    assert ack.status_code == 200, ack.text
    assert ack.json()["state"] == "acknowledged" and ack.json()["acknowledged_at"] is not None
    again = web.client.post(f"/api/v1/alarms/{alarm_id}/acknowledge", headers=worker)
    assert again.status_code == 409
    done = web.client.post(
        f"/api/v1/alarms/{alarm_id}/resolve", json={"note": "  burnt toast, window opened  "}, headers=web.auth(MANAGER)
    )
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["state"] == "resolved"
    steps = [(h["action"], h["actor"], h["note"]) for h in body["history"][2:]]
    assert steps == [("acknowledge", B2U1_WORKER, "on my way"), ("resolve", MANAGER, "burnt toast, window opened")]
    assert (
        web.client.post(
            f"/api/v1/alarms/{alarm_id}/resolve", json={"note": "again"}, headers=web.auth(MANAGER)
        ).status_code
        == 409
    )


def test_list_filters(web: WebHub) -> None:
    """Test that state, severity, kind and grid filters select the right alarms."""
    smoke = web.raise_alarm(FLAT_SMOKE)
    gas = web.raise_alarm("b3-u1-601-gas", kind=wire.EventKind.GAS)
    web.seq += 1
    web.feed(make_event(web.compound, "b4-u3-2304-smoke", seq=web.seq, kind="low_battery", severity="info", value=12))
    battery = next(a.id for a in web.service.list_alarms() if a.kind == "low_battery")
    headers = web.auth(MANAGER)
    web.client.post(f"/api/v1/alarms/{gas}/acknowledge", headers=headers)

    def ids(**params: str) -> set[int]:
        response = web.client.get("/api/v1/alarms", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return {a["id"] for a in response.json()}

    assert ids() == {smoke, gas, battery}
    assert ids(state="acknowledged") == {gas}
    assert ids(state="raised") == {smoke, battery}
    assert ids(severity="info") == {battery}
    assert ids(kind="gas") == {gas}
    assert ids(grid="mg-b2-u1") == {smoke}
    assert ids(grid="g-south") == {gas, battery}
    assert ids(grid="g-south", severity="critical") == {gas}
    assert web.client.get("/api/v1/alarms", params={"state": "burning"}, headers=headers).status_code == 422
    # "mine": the on-duty guard at 02:00 gets the fire alarms routed to them, not the battery fault.
    guard = web.client.get("/api/v1/alarms", params={"mine": "true"}, headers=web.auth("p-song-kai")).json()
    assert {a["id"] for a in guard} == {smoke, gas}
    # A worker's list is their grid only, whatever the filter asks for.
    worker = web.client.get("/api/v1/alarms", params={"grid": "g-total"}, headers=web.auth(B2U1_WORKER)).json()
    assert [a["id"] for a in worker] == [smoke]


def test_dead_letters_are_for_managers(web: WebHub) -> None:
    """Test that a manager reads dead letters with their reason and a worker is refused with 403."""
    from datetime import UTC, datetime

    from hub.ingest import Inbound

    topic = wire.topic(web.compound.id, "b2", wire.MessageType.EVENT, FLAT_SMOKE, prefix=web.compound.prefix)
    web.pipeline.process([Inbound(topic, b"{not json", datetime.now(UTC))])
    letters = web.client.get("/api/v1/dead-letters", headers=web.auth(MANAGER))
    assert letters.status_code == 200
    assert [(d["reason"], d["topic"]) for d in letters.json()] == [("not_json", topic)]
    assert web.client.get("/api/v1/dead-letters", headers=web.auth(B2U1_WORKER)).status_code == 403
    assert web.client.get("/api/v1/dead-letters", headers=web.auth(SECURITY)).status_code == 403


def test_me_tells_who_and_what_they_see(web: WebHub) -> None:
    """Test that /api/v1/me names the person, their visible grids and the compound's timezone."""
    worker = web.client.get("/api/v1/me", headers=web.auth(B2U1_WORKER)).json()
    assert worker["person"] == {"id": B2U1_WORKER, "name": "王丽", "role": "micro_grid_worker", "grids": ["mg-b2-u1"]}
    assert worker["visible_grids"] == ["mg-b2-u1"] and not worker["all_grids"]
    assert worker["compound"]["timezone"] == "Asia/Shanghai"
    assert not worker["can_read_dead_letters"]
    leader = web.client.get("/api/v1/me", headers=web.auth(NORTH_LEADER)).json()
    assert set(leader["visible_grids"]) == {"g-north", "mg-b1-u1", "mg-b1-u2", "mg-b2-u1", "mg-b2-u2"}
    manager = web.client.get("/api/v1/me", headers=web.auth(MANAGER)).json()
    assert manager["all_grids"] and manager["can_read_dead_letters"]
    assert "phone" not in str(manager["directory"]["people"])


def test_healthz_needs_no_account(web: WebHub) -> None:
    """Test that /healthz answers without credentials and reports the database."""
    response = web.client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["database"] == "ok"


def test_openapi_lists_the_api(web: WebHub) -> None:
    """Test that the OpenAPI document describes every API path and both credential schemes."""
    spec = web.client.get("/openapi.json").json()
    assert {
        "/api/v1/alarms",
        "/api/v1/alarms/{alarm_id}",
        "/api/v1/alarms/{alarm_id}/acknowledge",
        "/api/v1/alarms/{alarm_id}/resolve",
        "/api/v1/alarms/stream",
        "/api/v1/dead-letters",
        "/api/v1/me",
        "/healthz",
    } <= set(spec["paths"])
    assert set(spec["components"]["securitySchemes"]) == {"Bearer token", "Session cookie"}
