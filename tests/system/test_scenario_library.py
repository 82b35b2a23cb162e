"""The scenario library as a whole: every alarm kind is raised by some scenario, and simulators/README.md's
library table names the same scenarios and kinds as the specification.

The specification is one entry per scenario: ``EXPECTED`` (sensor scenarios, through the edge rules),
``CAMERA_EXPECTED`` (camera scenarios, through the vision pipeline), ``FACADE_EXPECTED`` (the façade camera, end to
end) and the ``edge-power-loss`` process test.
"""

from __future__ import annotations

import re

from compound.wire import EventKind
from tests.conftest import ROOT
from tests.edge.vision.test_camera_library import CAMERA_EXPECTED
from tests.hub.test_facade_alarm import FACADE_EXPECTED
from tests.system.test_edge_power_loss import MUST_NOT as POWER_LOSS_MUST_NOT
from tests.system.test_edge_power_loss import MUST_RAISE as POWER_LOSS_MUST_RAISE
from tests.system.test_scenarios_rules import EXPECTED

KINDS = {k.value for k in EventKind}


def specification() -> dict[str, tuple[set[str], set[str]]]:
    """Scenario name -> (kinds it must raise, kinds it must not raise), from the three specifications."""
    spec = {name: ({k.value for k, _ in e.conditions}, {k.value for k in e.must_not}) for name, e in EXPECTED.items()}
    for name, c in CAMERA_EXPECTED.items():
        spec[name] = ({k.value for k in c.raises}, {k.value for k in c.must_not})
    spec["edge-power-loss"] = ({k.value for k in POWER_LOSS_MUST_RAISE}, {k.value for k in POWER_LOSS_MUST_NOT})
    for name, (raises, must_not) in FACADE_EXPECTED.items():
        spec[name] = ({k.value for k in raises}, {k.value for k in must_not})
    return spec


def readme_table() -> dict[str, tuple[set[str], set[str]]]:
    """Scenario name -> (kinds named in "must raise", kinds named in "must not raise") of the README's table."""
    text = (ROOT / "simulators" / "README.md").read_text(encoding="utf-8")
    section = text.split("## Scenario library", 1)[1]
    rows: dict[str, tuple[set[str], set[str]]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`"):
            continue
        named = [set(re.findall(r"`([a-z_]+)`", c)) & KINDS for c in cells[2:]]
        rows[cells[0].strip("`")] = (named[0], named[1])
    return rows


def test_every_alarm_kind_is_raised_by_some_scenario() -> None:
    """Test that each EventKind is among the must-raise kinds of at least one library scenario."""
    raised = set().union(*(must for must, _ in specification().values()))
    assert raised == KINDS, f"kinds no scenario raises: {sorted(KINDS - raised)}"


def test_the_readme_table_matches_the_specification() -> None:
    """Test that simulators/README.md's library table lists every scenario once, with the kinds it must and
    must not raise exactly as specified."""
    assert readme_table() == specification()
