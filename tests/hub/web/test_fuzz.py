"""The API fuzzed from its own OpenAPI schema with schemathesis: no server error, no crash, responses as documented.

Every operation of ``/openapi.json`` gets schema-valid and schema-invalid requests (hypothesis, derandomized so
that a run is reproducible, ``FUZZ_EXAMPLES`` per operation and mode), once as a property manager (who sees
every grid, so the requests reach the real handlers and the database) and once with no credentials. The app is
the real one over a real SQLite database and an embedded time-series store, served by uvicorn on a loopback
port, holding alarms raised through the real ingest pipeline. ``COMPOUND_FUZZ_EXAMPLES`` raises the budget.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from compound import wire
from compound.clock import ManualClock
from compound.config import Compound
from hub.alarms.changes import AlarmChanges
from hub.alarms.service import AlarmService
from hub.db import Database, default_url
from hub.ingest import Inbound, MessagePipeline
from hub.timeseries import TimeseriesSettings, open_timeseries
from hub.web import TokenSigner, WebContext, create_app, make_server
from hub.web.routes.devices import attach_series
from tests.hub.helpers import event_topic, make_event

SECRET = "fuzz-secret-key-for-web-tests-0123456789"
MANAGER = "p-han-mei"
DEVICE = "b2-u1-1502-smoke"
NOW = datetime(2026, 11, 20, 18, 30, tzinfo=UTC)
FUZZ_EXAMPLES = int(os.environ.get("COMPOUND_FUZZ_EXAMPLES", "12"))
"""Examples per operation and generation mode; the bounded default keeps the whole module near 30 s here."""

SKIPPED = {"GET /api/v1/alarms/stream"}
"""A live event stream never ends by itself: fuzzing it would only wait for timeouts (``test_stream.py``)."""

APP_WIDE = {400, 403, 413, 429}
"""Statuses any operation may answer without listing them: a body that is not UTF-8 JSON (FastAPI), a write
carrying a session cookie but no matching ``Origin`` (cross-site check), a body over the size limit
(``hub.web.limits``), too many attempts (sign-in rate limit)."""

CALENDAR_ENDS = ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00",
                 "9999-12-31T23:59:59.999999Z", "1970-01-01T00:00:00Z"]  # fmt: skip
DATE_TIMES = st.one_of(
    st.sampled_from(CALENDAR_ENDS),
    st.sampled_from(CALENDAR_ENDS),
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))])).map(
        datetime.isoformat
    ),
)
"""``date-time`` values, the calendar's ends (where window arithmetic overflows) two times in three: schemathesis'
own strategy reaches them too, but rarely within a bounded run."""
schemathesis.openapi.format("date-time", DATE_TIMES)

CHECKS = [
    not_a_server_error,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
"""Not ``negative_data_rejection``: our fixed credentials replace the invalid ``Authorization`` headers it generates,
and FastAPI's reading of a repeated scalar query parameter (the last one wins) is no server error."""


@dataclass
class FuzzTarget:
    """The served app, its schema, and credentials."""

    url: str
    schema: Any
    manager: dict[str, str]
    alarms: list[int]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory, compound: Compound) -> Iterator[FuzzTarget]:
    """The real app with alarms in every state and an hour of readings, served on a free loopback port."""
    data = tmp_path_factory.mktemp("fuzz")
    db = Database(default_url(Path(data) / "hub"))
    db.create()
    clock = ManualClock(NOW)
    series = open_timeseries(TimeseriesSettings(), Path(data) / "hub", compound=compound, clock=clock)
    changes = AlarmChanges()
    pipeline = MessagePipeline(db, compound, changes=changes, series=series.sink, clock=clock)
    devices = [DEVICE, "b2-u1-1501-smoke", "b1-u1-101-smoke"]
    events = [make_event(compound, device, seq=i + 1, at=NOW - timedelta(minutes=5)) for i, device in
              enumerate(d for d in devices if d in compound.devices)]  # fmt: skip
    pipeline.process([Inbound(event_topic(compound, e), wire.dump(e), NOW) for e in events])
    for minute in range(60):
        series.sink.reading(
            wire.Reading(compound=compound.id, edge="b2", device=devices[0], quantity="smoke", value=0.01 * minute,
                         unit="dB/m", battery=90.0, at=NOW - timedelta(minutes=60 - minute))
        )  # fmt: skip
    assert series.flush(timeout=30)
    service = AlarmService(db, compound, changes=changes, clock=clock)
    alarms = [a.id for a in service.list_alarms(state="open")]
    service.acknowledge(alarms[0], MANAGER, "on my way")
    signer = TokenSigner(SECRET)
    app = create_app(WebContext(compound=compound, service=service, signer=signer))
    attach_series(app, series.reader)
    started = threading.Event()
    server = make_server(app, host="127.0.0.1", port=0, on_started=lambda _url: started.set())
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), name="fuzz-web", daemon=True)
    thread.start()
    try:
        assert started.wait(20), "web app did not start"
        schema = schemathesis.openapi.from_dict(app.openapi())
        manager = {"Authorization": f"Bearer {signer.issue_for(compound, MANAGER)}"}
        yield FuzzTarget(server.url, schema, manager, alarms)
    finally:
        server.should_exit = True
        thread.join(30)
        series.close()
        db.dispose()


def _operations(schema: Any) -> list[Any]:
    operations = [result.ok() for result in schema.get_all_operations()]
    return [op for op in operations if f"{op.method.upper()} {op.path}" not in SKIPPED]


def _status_documented(case: Case, response: requests.Response, label: str) -> str | None:
    """``status_code_conformance`` less the app-wide statuses; ``None`` when fine."""
    if response.status_code in APP_WIDE:
        return None
    try:
        case.validate_response(response, checks=[status_code_conformance])
    except (AssertionError, BaseExceptionGroup) as exc:
        return f"{label}: {exc}"
    return None


def fuzz(target: FuzzTarget, operation: Any, headers: dict[str, str], **fixed: Any) -> list[str]:
    """Run one operation's bounded fuzz in both generation modes; return every failure, described."""
    failures: list[str] = []
    session = requests.Session()
    label = f"{operation.method.upper()} {operation.path}"

    def check(case: Case) -> None:
        try:
            response = case.call(base_url=target.url, session=session, headers=headers, timeout=20)
        except requests.RequestException as exc:  # the server dropped the connection: a crash
            failures.append(f"{label}: {type(exc).__name__}: {exc}\n  {case.as_curl_command()}")
            return
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (AssertionError, BaseExceptionGroup) as exc:
            failures.append(f"{label} -> {response.status_code}: {exc}\n  {case.as_curl_command()}")
        documented = None if response.status_code >= 500 else _status_documented(case, response, label)
        if documented is not None:
            failures.append(f"{documented}\n  {case.as_curl_command()}")

    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        run: Callable[[], None] = settings(
            max_examples=FUZZ_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )(given(case=operation.as_strategy(generation_mode=mode, **fixed))(check))
        try:
            run()
        except Unsatisfiable:  # nothing in this operation can be made invalid (no parameters, no body)
            assert mode is GenerationMode.NEGATIVE, f"{label}: no valid request could be generated"
    return failures


def test_schema_lists_every_api_route(target: FuzzTarget) -> None:
    """Test that what is fuzzed is the API: every /api/v1 route and /healthz, the stream being the only skip."""
    labels = {f"{op.method.upper()} {op.path}" for op in _operations(target.schema)}
    assert {"GET /api/v1/alarms", "POST /api/v1/alarms/{alarm_id}/resolve", "GET /healthz"} <= labels
    assert all(label.split()[1].startswith(("/api/v1/", "/healthz")) for label in labels)


def test_fuzz_as_a_manager_finds_no_server_error(target: FuzzTarget) -> None:
    """Test that no operation answers a manager's generated request with a 5xx, a dropped connection or an
    undocumented response; alarm and device ids are both generated and taken from ones that exist."""
    failures: list[str] = []
    for operation in _operations(target.schema):
        failures += fuzz(target, operation, target.manager)
        if "{alarm_id}" in operation.path:
            for alarm in target.alarms:
                failures += fuzz(target, operation, target.manager, path_parameters={"alarm_id": alarm})
        if "{device_id}" in operation.path:  # a device with readings: the window arithmetic is reached
            failures += fuzz(target, operation, target.manager, path_parameters={"device_id": DEVICE})
    assert not failures, "\n\n".join(failures[:20])


def test_fuzz_without_credentials_finds_no_server_error(target: FuzzTarget) -> None:
    """Test that with no credentials every operation answers generated requests without a server error (401
    where an account is needed)."""
    failures: list[str] = []
    for operation in _operations(target.schema):
        failures += fuzz(target, operation, {})
    assert not failures, "\n\n".join(failures[:20])


@pytest.mark.parametrize("alarm_id", [2**63, 2**64 + 1, 10**30, 0, -(2**63) - 1])
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/alarms/{}", None),
        ("GET", "/api/v1/alarms/{}/evidence", None),
        ("GET", "/api/v1/alarms/{}/snapshot", None),
        ("POST", "/api/v1/alarms/{}/acknowledge", None),
        ("POST", "/api/v1/alarms/{}/resolve", {"note": "checked"}),
    ],
)
def test_alarm_id_beyond_a_row_id_is_not_found(
    target: FuzzTarget, method: str, path: str, body: dict[str, str] | None, alarm_id: int
) -> None:
    """Test (found by fuzzing: a 500 from the driver's OverflowError) that an alarm id no table can hold is
    answered 404, like any id that names no alarm."""
    response = requests.request(
        method, target.url + path.format(alarm_id), json=body, headers=target.manager, timeout=20
    )
    assert response.status_code == 404, response.text


@pytest.mark.parametrize(
    "window",
    [
        {"to": "0001-01-01T00:00:00Z"},
        {"to": "0001-01-01T00:00:00+01:00"},
        {"to": "9999-12-31T23:59:59-05:00"},
        {"from": "0001-01-01T00:30:00+01:00", "to": "0001-01-02T00:00:00Z"},
        {"to": "0001-01-01T00:00:05Z", "span": "10"},
    ],
)
def test_series_window_beyond_the_calendar_is_refused(target: FuzzTarget, window: dict[str, str]) -> None:
    """Test (found by fuzzing with the calendar's ends: a 500 from OverflowError) that a series window
    reaching outside years 1-9999 UTC is a 422 saying so."""
    response = requests.get(
        f"{target.url}/api/v1/devices/b2-u1-1502-smoke/series", params=window, headers=target.manager, timeout=20
    )
    assert response.status_code == 422, response.text
    assert "out of range" in response.json()["detail"]
