"""The API and the console's scripts get their alarm states from ``AlarmState``, not from a copy."""

from __future__ import annotations

import json
import re

from hub.alarm_states import ACKNOWLEDGEABLE, OPEN_STATES, AlarmState, PseudoState
from hub.web.assets import STATES_JS_PATH, STATIC_DIR
from tests.hub.web.conftest import WebHub

_EXPORT = re.compile(r"^export const (\w+) = (?:Object\.freeze|new Set)\((.*)\);$")


def _exports(module: str) -> dict[str, object]:
    """``export const NAME = Object.freeze(<json>)`` / ``new Set(<json>)`` lines, as {NAME: parsed json}."""
    found = {}
    for line in module.splitlines():
        if match := _EXPORT.match(line):
            found[match[1]] = json.loads(match[2])
    return found


def test_openapi_states_are_the_enum(web: WebHub) -> None:
    """Test that the OpenAPI document lists the enum's states for alarms, and states plus pseudo-states as filters."""
    spec = web.client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert schemas["AlarmState"]["enum"] == [s.value for s in AlarmState]
    assert schemas["PseudoState"]["enum"] == [s.value for s in PseudoState]
    assert schemas["AlarmPublic"]["properties"]["state"] == {"$ref": "#/components/schemas/AlarmState"}
    [state] = [p for p in spec["paths"]["/api/v1/alarms"]["get"]["parameters"] if p["name"] == "state"]
    refs = {option.get("$ref") for option in state["schema"]["anyOf"]}
    assert refs == {"#/components/schemas/AlarmState", "#/components/schemas/PseudoState", None}


def test_every_state_and_pseudo_state_filters_the_list(web: WebHub) -> None:
    """Test that the list accepts each state and pseudo-state as a filter and refuses anything else."""
    headers = web.auth("p-han-mei")
    for value in [*AlarmState, *PseudoState]:
        response = web.client.get("/api/v1/alarms", params={"state": value.value}, headers=headers)
        assert response.status_code == 200, (value, response.text)
    assert web.client.get("/api/v1/alarms", params={"state": "RAISED"}, headers=headers).status_code == 422


def test_console_states_module_is_generated_from_the_enum(web: WebHub) -> None:
    """Test that /static/states.js, which the console imports, exports exactly the enum's states and sets."""
    response = web.client.get(STATES_JS_PATH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert _exports(response.text) == {
        "AlarmState": {s.name: s.value for s in AlarmState},
        "STATES": [s.value for s in AlarmState],
        "OPEN_STATES": [s.value for s in OPEN_STATES],
        "ACKNOWLEDGEABLE": [s.value for s in AlarmState if s in ACKNOWLEDGEABLE],
        "PseudoState": {s.name: s.value for s in PseudoState},
    }


def test_no_console_script_keeps_its_own_copy_of_the_states() -> None:
    """Test that common.js re-exports the generated module and no static script defines the state sets itself."""
    common = (STATIC_DIR / "common.js").read_text(encoding="utf-8")
    assert f'from "{STATES_JS_PATH}";' in common
    assert not (STATIC_DIR / "states.js").exists(), "the module is generated; a file on disk would be shadowed"
    for script in STATIC_DIR.glob("*.js"):
        source = script.read_text(encoding="utf-8")
        for name in ("AlarmState", "STATES", "OPEN_STATES", "ACKNOWLEDGEABLE", "PseudoState"):
            assert not re.search(rf"\b(const|let|var)\s+{name}\b", source), f"{script.name} defines {name}"
