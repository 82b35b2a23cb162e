"""The compound config: the sample loads; each kind of mistake is refused naming the file, key path and problem."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from compound.cli import main
from compound.config import ConfigError, DeviceType, DoorRole, Role, load_config
from tests.conftest import ROOT

CONFIGS = ROOT / "configs"
FILES = ("compound.yaml", "devices.yaml", "grids.yaml", "people.yaml", "households.yaml")

Mutation = Callable[[dict[str, Any]], None]


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A private copy of the sample config (YAML files only) to break."""
    root = tmp_path / "configs"
    root.mkdir()
    for name in FILES:
        shutil.copy(CONFIGS / name, root / name)
    return root


def mutate(root: Path, file: str, change: Mutation) -> None:
    """Load one YAML file of the copy, apply ``change`` to it, write it back."""
    path = root / file
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def issues(root: Path) -> list[tuple[str, str, str]]:
    """The (file, path, message) of every problem load_config finds; fails if it finds none."""
    with pytest.raises(ConfigError) as exc:
        load_config(root)
    return [(i.file, i.path, i.message) for i in exc.value.issues]


def assert_issue(found: list[tuple[str, str, str]], file: str, path: str, fragment: str) -> None:
    assert any(f == file and p == path and fragment in m for f, p, m in found), found


def test_sample_config_loads() -> None:
    """Test that the shipped sample compound loads, with its devices expanded from the rules."""
    compound = load_config(CONFIGS)
    assert compound.id == "sunrise-garden"
    assert compound.edges() == ["b1", "b2", "b3", "b4", "kg"]
    smoke = compound.devices["b2-u1-1502-smoke"]
    assert (smoke.type, smoke.edge, smoke.floor, smoke.flat) == (DeviceType.SMOKE_DETECTOR, "b2", 15, "1502")
    assert compound.devices["b2-u1-1502-gas"].place == "kitchen"
    assert compound.devices["b2-u1-f12-firedoor"].door_role is DoorRole.FIRE_DOOR
    assert compound.devices["b2-u1-803-door"].door_role is DoorRole.FLAT_DOOR
    flats = sum(len(b.units) * b.floors * b.flats_per_floor for b in compound.buildings)
    assert sum(d.type is DeviceType.SMOKE_DETECTOR for d in compound.devices.values()) == flats + 1  # + kindergarten
    assert len(compound.care_households()) >= 4
    assert compound.grid_chain(compound.grid_of(smoke)) == ["mg-b2-u1", "g-north", "g-total"]
    assert all(b.floors >= 18 and b.flats_per_floor == 4 and len(b.units) >= 2 for b in compound.buildings)
    assert {p.role for p in compound.people.values()} == set(Role)


def _set(path: str, value: Any) -> Mutation:
    """A mutation setting ``a.b[2].c`` to ``value``."""

    def change(data: dict[str, Any]) -> None:
        parts = path.replace("]", "").replace("[", ".").split(".")
        node: Any = data
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node[part]
        last = parts[-1]
        node[int(last) if last.isdigit() else last] = value

    return change


@pytest.mark.parametrize(
    ("file", "change", "path", "fragment"),
    [
        # unknown keys, at several depths
        ("compound.yaml", _set("buildings[1].colour", "red"), "buildings[1].colour", "unknown key"),
        ("compound.yaml", _set("rules.smoke.treshold", 0.2), "rules.smoke.treshold", "unknown key"),
        ("people.yaml", _set("people[0].email", "x@y.z"), "people[0].email", "unknown key"),
        # values out of bounds
        ("compound.yaml", _set("buildings[0].floors", 500), "buildings[0].floors", "less than or equal to 120"),
        ("compound.yaml", _set("rules.gas.alarm", 0), "rules.gas.alarm", "greater than 0"),
        ("households.yaml", _set("households[1].residents[0].age", 200), "households[1].residents[0].age", "130"),
        # bad types and formats
        ("compound.yaml", _set("rules.smoke.threshold", "high"), "rules.smoke.threshold", "valid number"),
        ("compound.yaml", _set("buildings[0].units", "u1"), "buildings[0].units", "valid list"),
        ("people.yaml", _set("people[0].role", "janitor"), "people[0].role", "micro_grid_worker"),
        ("people.yaml", _set("people[0].phone", "call me"), "people[0].phone", "pattern"),
        (
            "people.yaml",
            _set("rosters[0].shifts[0].window.start", "25:00"),
            "rosters[0].shifts[0].window.start",
            "HH:MM",
        ),
        ("devices.yaml", _set("rules[0].every", "unit_entrance"), "rules[0]", "cannot be placed"),
        # cross-field rules
        ("compound.yaml", _set("rules.smoke.clear_below", 0.2), "rules.smoke", "hysteresis"),
        ("compound.yaml", _set("rules.gas.pre_alarm", 30), "rules.gas", "pre_alarm must be lower"),
        # missing required key
        ("compound.yaml", lambda d: d["buildings"][0].pop("floors"), "buildings[0].floors", "required key is missing"),
    ],
)
def test_schema_mistakes_name_file_path_and_problem(
    config_dir: Path, file: str, change: Mutation, path: str, fragment: str
) -> None:
    """Test that an unknown key, out-of-bound value, bad type or missing key is refused precisely."""
    mutate(config_dir, file, change)
    assert_issue(issues(config_dir), file, path, fragment)


def _find(items: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    return next(i for i in items if all(i.get(k) == v for k, v in match.items()))


@pytest.mark.parametrize(
    ("file", "change", "path", "fragment"),
    [
        (
            "people.yaml",
            lambda d: _find(d["rosters"], id="r-security")["shifts"][1].update(person="p-nobody"),
            "rosters[11].shifts[1].person",
            "unknown person 'p-nobody'",
        ),
        (
            "people.yaml",
            lambda d: _find(d["rosters"], id="r-security")["shifts"][0].update(person="p-deng-hao"),
            "rosters[11].shifts[0].person",
            "is a maintenance, roster is for property_security",
        ),
        ("people.yaml", lambda d: d["people"][2].update(grids=["mg-b9-u1"]), "people[2].grids[0]", "unknown grid"),
        ("people.yaml", lambda d: d["people"][1].update(id="p-liu-fang"), "people[1].id", "duplicate person id"),
        ("grids.yaml", lambda d: d["micro"][3].update(building="b9"), "micro[3].building", "unknown building 'b9'"),
        ("grids.yaml", lambda d: d["micro"][3].update(unit="u5"), "micro[3].unit", "has no unit 'u5'"),
        ("grids.yaml", lambda d: d["micro"][0].update(general="g-east"), "micro[0].general", "unknown general grid"),
        (
            "grids.yaml",
            lambda d: d["general"][0]["buildings"].append("b7"),
            "general[0].buildings[2]",
            "unknown building",
        ),
        ("grids.yaml", lambda d: d["dedicated"][0].update(site="school"), "dedicated[0].site", "unknown site"),
        ("households.yaml", lambda d: d["households"][0].update(flat="1505"), "households[0].flat", "has no flat"),
        ("households.yaml", lambda d: d["households"][0].update(unit="u9"), "households[0].unit", "unknown unit"),
        ("devices.yaml", lambda d: d["rules"][0].update(buildings=["b1", "b8"]), "rules[0].buildings[1]", "unknown"),
        (
            "devices.yaml",
            lambda d: d["devices"][0]["location"].update(building="mall"),
            "devices[0].location.building",
            "unknown building or site",
        ),
        (
            "compound.yaml",
            lambda d: d["compound"].update(timezone="Mars/Olympus"),
            "compound.timezone",
            "unknown timezone",
        ),
    ],
)
def test_unknown_references_are_refused(
    config_dir: Path, file: str, change: Mutation, path: str, fragment: str
) -> None:
    """Test that a reference to a person, grid, building, unit, flat or site that does not exist is refused."""
    mutate(config_dir, file, change)
    assert_issue(issues(config_dir), file, path, fragment)


def test_unit_without_micro_grid_is_refused(config_dir: Path) -> None:
    """Test that dropping a unit's micro-grid is refused: every unit must belong to one micro-grid."""
    mutate(config_dir, "grids.yaml", lambda d: d["micro"].pop(1))
    assert_issue(issues(config_dir), "grids.yaml", "micro", "unit b1/u2 belongs to no micro-grid")


def test_unit_in_two_micro_grids_is_refused(config_dir: Path) -> None:
    """Test that two micro-grids for one unit are refused, naming the first."""
    mutate(config_dir, "grids.yaml", lambda d: d["micro"][1].update(unit="u1"))
    assert_issue(issues(config_dir), "grids.yaml", "micro[1]", "already in 'mg-b1-u1'")


def test_duplicate_device_id_is_refused(config_dir: Path) -> None:
    """Test that an explicit device reusing a generated id is refused."""
    mutate(config_dir, "devices.yaml", lambda d: d["devices"][0].update(id="b2-u1-entrance"))
    assert_issue(issues(config_dir), "devices.yaml", "devices[0].id", "defined twice")


def test_missing_file_is_refused_but_households_are_optional(config_dir: Path) -> None:
    """Test that a missing required file is named, while a missing households.yaml is allowed."""
    (config_dir / "households.yaml").unlink()
    assert load_config(config_dir).care_households() == []
    (config_dir / "people.yaml").unlink()
    assert_issue(issues(config_dir), "people.yaml", "", "file is missing")


def test_missing_directory_is_refused(tmp_path: Path) -> None:
    """Test that a config directory that does not exist is a clear error."""
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nowhere")


def test_yaml_syntax_error_names_line_and_column(config_dir: Path) -> None:
    """Test that broken YAML is refused with the file, its line and column."""
    text = (config_dir / "grids.yaml").read_text(encoding="utf-8")
    (config_dir / "grids.yaml").write_text(text.replace("general:\n", "general: [\n", 1), encoding="utf-8")
    (file, where, message), *_ = issues(config_dir)
    assert file == "grids.yaml" and where.startswith("line ") and ", column " in where
    assert "not valid YAML" in message


def test_top_level_list_is_refused(config_dir: Path) -> None:
    """Test that a file whose top level is not a mapping is refused."""
    (config_dir / "people.yaml").write_text("- a\n- b\n", encoding="utf-8")
    assert_issue(issues(config_dir), "people.yaml", "", "top level must be a mapping")


def test_every_problem_is_reported_at_once(config_dir: Path) -> None:
    """Test that mistakes in several files are all listed in one error, not just the first."""
    mutate(config_dir, "compound.yaml", _set("buildings[0].floors", 0))
    mutate(config_dir, "people.yaml", _set("people[0].colour", "x"))
    found = issues(config_dir)
    assert {f for f, _, _ in found} >= {"compound.yaml", "people.yaml"}


def test_check_config_exits_1_and_names_the_mistake(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Test that `compound check-config BAD` exits 1 and prints file, key path and problem on stderr."""
    mutate(config_dir, "compound.yaml", _set("buildings[1].floors", 500))
    with pytest.raises(SystemExit) as exc:
        main(["check-config", str(config_dir)])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "compound.yaml: buildings[1].floors:" in err and "less than or equal to 120" in err


def test_check_config_accepts_the_sample(capsys: pytest.CaptureFixture[str]) -> None:
    """Test that `compound check-config` on the sample exits 0 and summarises it."""
    with pytest.raises(SystemExit) as exc:
        main(["check-config", str(CONFIGS)])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("OK sunrise-garden") and "edges: b1, b2, b3, b4, kg" in out
