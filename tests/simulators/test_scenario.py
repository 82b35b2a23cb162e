"""Scenario files: every shipped one is valid; each kind of mistake names the file, the key path and the problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compound.config import Compound, ConfigError
from simulators import SCENARIO_DIR, check_scenario, list_scenarios, load_scenario

REQUIRED = {
    "kitchen-fire-night",
    "slow-gas-leak",
    "fire-door-wedged",
    "door-forced-night",
    "elderly-inactive",
    "detector-battery-dying",
    "quiet-day",
}

GOOD: dict[str, Any] = {
    "name": "mine",
    "description": "a test",
    "start": "2026-11-24T02:00:00+08:00",
    "duration_s": 600,
    "timeline": [{"at": 10, "action": "fire", "flat": "b2/u1/1502", "growth": "fast"}],
}


def write(tmp_path: Path, data: Any, name: str = "mine") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def issues_of(exc: pytest.ExceptionInfo[ConfigError]) -> list[tuple[str, str, str]]:
    return [(i.file, i.path, i.message) for i in exc.value.issues]


def test_every_shipped_scenario_loads_and_matches_the_sample_compound(sample_compound: Compound) -> None:
    """Test that the required scenarios exist, load strictly and reference real flats and devices."""
    scenarios = list_scenarios()
    names = {s.name for s in scenarios}
    assert names >= REQUIRED
    for sc in scenarios:
        assert sc.start.utcoffset() is not None
        check_scenario(sc, sample_compound)
    night = load_scenario("kitchen-fire-night")
    assert night.start.hour == 2 and 900 <= night.duration_s <= 1800
    assert load_scenario("elderly-inactive").duration_s > 12 * 3600
    assert load_scenario(SCENARIO_DIR / "quiet-day.yaml").name == "quiet-day"


def test_a_good_file_loads(tmp_path: Path) -> None:
    """Test that a minimal scenario file loads by path."""
    sc = load_scenario(write(tmp_path, GOOD))
    assert sc.timeline[0].growth is not None and sc.seed == 0 and sc.routines


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ({"colour": "red"}, "colour", "unknown key"),
        ({"duration_s": -5}, "duration_s", "greater than 0"),
        ({"duration_s": "long"}, "duration_s", "valid number"),
        ({"start": "2026-11-24T02:00:00"}, "start", "timezone"),
        ({"description": None}, "description", "valid string"),
        ({"timeline": [{"at": 1, "action": "explode", "flat": "b2/u1/1502"}]}, "timeline[0].action", "unknown action"),
        ({"timeline": [{"at": 1, "action": "fire", "flat": "1502"}]}, "timeline[0].flat", "pattern"),
        ({"timeline": [{"at": 1, "action": "fire", "flat": "b2/u1/1502", "growth": "huge"}]}, "timeline[0].growth", ""),
        ({"timeline": [{"at": 1, "action": "fire", "flat": "b2/u1/1502", "speed": 3}]}, "timeline[0].speed", "unknown"),
        ({"timeline": [{"at": 1, "action": "gas_leak", "flat": "b2/u1/1502"}]}, "timeline[0].rate", "needs rate"),
        ({"timeline": [{"at": 1, "action": "fire", "device": "b2-u1-1502-smoke"}]}, "timeline[0].flat", "needs a flat"),
        ({"timeline": [{"at": 1, "action": "stuck", "flat": "b2/u1/1502"}]}, "timeline[0].device", "needs a device"),
        (
            {"timeline": [{"at": 1, "action": "fire", "flat": "b2/u1/1502", "rate": 2}]},
            "timeline[0].rate",
            "not a param",
        ),
        ({"timeline": [{"at": 900, "action": "fire", "flat": "b2/u1/1502"}]}, "timeline[0].at", "after the end"),
        ({"timeline": [{"at": 1, "action": "gas_leak", "flat": "b2/u1/1502", "rate": 500}]}, "timeline[0].rate", "100"),
        ({"name": "other"}, "name", "must match the file name"),
    ],
)
def test_each_mistake_is_refused_with_file_path_and_problem(
    tmp_path: Path, change: dict[str, Any], path: str, message: str
) -> None:
    """Test that a scenario mistake is a ConfigError naming the file, the key path and the problem."""
    with pytest.raises(ConfigError) as exc:
        load_scenario(write(tmp_path, {**GOOD, **change}))
    found = issues_of(exc)
    assert any(f == "mine.yaml" and p == path and message in m for f, p, m in found), found
    assert "mine.yaml" in str(exc.value)


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    """Test that broken YAML is refused with its line and column."""
    with pytest.raises(ConfigError) as exc:
        load_scenario(write(tmp_path, "name: mine\ntimeline: [\n  {at: 1,\n"))
    (file, where, message), *_ = issues_of(exc)
    assert file == "mine.yaml" and where.startswith("line ") and "not valid YAML" in message


def test_missing_scenario_lists_known_ones() -> None:
    """Test that an unknown scenario name is refused with the names that exist."""
    with pytest.raises(ConfigError, match=r"no such scenario.*kitchen-fire-night"):
        load_scenario("no-such-scenario")


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    """Test that a scenario that is a list is refused."""
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_scenario(write(tmp_path, "- 1\n- 2\n"))


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ({"action": "fire", "flat": "b9/u1/1502"}, "unknown building 'b9'"),
        ({"action": "fire", "flat": "b2/u7/1502"}, "no unit 'u7'"),
        ({"action": "fire", "flat": "b2/u1/3001"}, "no flat '3001'"),
        ({"action": "fire", "flat": "b2/u1/1505"}, "no flat '1505'"),
        ({"action": "resident_inactive", "flat": "b2/u1/1502"}, "not a care household"),
        ({"action": "stuck", "device": "b2-u1-9999-smoke"}, "unknown device 'b2-u1-9999-smoke'"),
        ({"action": "wedge_door", "device": "b2-u1-1502-smoke"}, "needs a door_contact"),
        ({"action": "noisy", "device": "b2-u1-entrance"}, "needs a smoke_detector or gas_detector"),
        ({"action": "battery_drain", "device": "b2-u1-entrance", "rate": 5}, "mains powered"),
    ],
)
def test_references_are_checked_against_the_compound(
    tmp_path: Path, sample_compound: Compound, step: dict[str, Any], message: str
) -> None:
    """Test that a step naming a flat or device the compound lacks (or of the wrong kind) is refused clearly."""
    sc = load_scenario(write(tmp_path, {**GOOD, "timeline": [GOOD["timeline"][0], {"at": 5, **step}]}))
    with pytest.raises(ConfigError) as exc:
        check_scenario(sc, sample_compound)
    found = issues_of(exc)
    key = "flat" if "flat" in step else "device"
    assert any(f == "mine.yaml" and p == f"timeline[1].{key}" and message in m for f, p, m in found), found


def test_a_grant_needs_open_door_at_a_door_with_a_reader(tmp_path: Path, sample_compound: Compound) -> None:
    """Test that grant is refused on other actions and on doors without a reader (fire doors, flat doors)."""
    wrong_action = {**GOOD, "timeline": [{"at": 5, "action": "wedge_door", "device": "b2-u1-entrance", "grant": True}]}
    with pytest.raises(ConfigError) as exc:
        load_scenario(write(tmp_path, wrong_action))
    assert ("mine.yaml", "timeline[0].grant", "not a parameter of action wedge_door") in issues_of(exc)
    for device in ("b2-u1-f12-firedoor", "b2-u1-803-door"):
        step = {"at": 5, "action": "open_door", "device": device, "grant": True}
        sc = load_scenario(write(tmp_path, {**GOOD, "timeline": [step]}))
        with pytest.raises(ConfigError) as exc:
            check_scenario(sc, sample_compound)
        assert any(p == "timeline[0].grant" and "no access reader" in m for _, p, m in issues_of(exc)), issues_of(exc)
    ok = {"at": 5, "action": "open_door", "device": "b2-u2-entrance", "grant": True, "hold_s": 8}
    check_scenario(load_scenario(write(tmp_path, {**GOOD, "timeline": [ok]})), sample_compound)


def test_bad_scenario_in_folder_fails_listing(tmp_path: Path) -> None:
    """Test that listing a folder with one bad scenario reports it instead of skipping it."""
    write(tmp_path, GOOD)
    write(tmp_path, {**GOOD, "name": "bad", "extra": 1}, name="bad")
    with pytest.raises(ConfigError, match=r"bad\.yaml: extra: unknown key"):
        list_scenarios(tmp_path)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
step_like = st.fixed_dictionaries(
    {"at": st.one_of(st.integers(-5, 900), st.text(max_size=4)), "action": st.sampled_from(["fire", "noisy", "x", 3])},
    optional={
        "flat": st.sampled_from(["b2/u1/1502", "b2/u1/9999", "zz", "b9/u1/101"]),
        "device": st.sampled_from(["b2-u1-entrance", "b2-u1-1502-smoke", "nope", ""]),
        "rate": json_values,
        "growth": json_values,
        "extra": json_values,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    top=st.dictionaries(st.sampled_from(["name", "description", "start", "duration_s", "seed", "x"]), json_values),
    steps=st.lists(step_like, max_size=4),
)
def test_any_input_is_loaded_or_refused_cleanly(
    tmp_path: Path, sample_compound: Compound, top: dict[str, Any], steps: list[dict[str, Any]]
) -> None:
    """Test that arbitrary scenario content either loads and checks, or raises ConfigError naming the file."""
    data = {**GOOD, **top, "timeline": steps}
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    try:
        check_scenario(load_scenario(path), sample_compound)
    except ConfigError as exc:
        assert exc.issues and all(i.file == "mine.yaml" for i in exc.issues)
