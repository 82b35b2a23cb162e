"""``compound sim list|run``: the scenario table, JSON lines and the summary of a run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compound.cli import main


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


def test_sim_list_shows_every_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    """Test that `compound sim list` prints a table with name, duration and description."""
    code, out, _ = run_cli(["sim", "list"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "DURATION", "DESCRIPTION"]
    fire = next(line for line in lines if line.startswith("kitchen-fire-night "))
    assert "0:20:00" in fire and "1502" in fire
    assert any(line.startswith("elderly-inactive ") and "15:00:00" in line for line in lines)


def test_sim_run_json_prints_one_sample_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    """Test that --json prints parseable samples in which the fire flat's smoke crosses 0.15 dB/m."""
    code, out, err = run_cli(["sim", "run", "kitchen-fire-night", "--json", "--duration", "400"], capsys)
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert {"smoke", "gas", "door"} <= {r["quantity"] for r in records} <= {"smoke", "gas", "door", "access"}
    for grant in (r for r in records if r["quantity"] == "access"):  # a resident's card, then the door opens
        assert grant["value"] == 1.0 and "battery" not in grant
        assert any(
            r["device"] == grant["device"] and r["quantity"] == "door" and r["value"] == 1.0 and r["at"] > grant["at"]
            for r in records
        )
    fire = [r["value"] for r in records if r["device"] == "b2-u1-1502-smoke"]
    assert max(fire) > 0.15
    assert all(r["at"] <= "2026-11-23T18:06:40+00:00" for r in records)  # 02:06:40 +08:00
    assert "scenario kitchen-fire-night" in err and "done:" in err


def test_sim_run_summary_names_notable_devices(capsys: pytest.CaptureFixture[str]) -> None:
    """Test that the summary reports the battery that died and the silent detector."""
    code, out, _ = run_cli(["sim", "run", "detector-battery-dying", "--seed", "3"], capsys)
    assert code == 0
    assert "seed 3" in out and "notable devices:" in out
    assert "b2-u2-1801-smoke  battery down to 0 %" in out
    assert "b2-u2-1801-smoke  silent for" in out


def test_sim_run_refuses_unknown_scenario_and_edge(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Test that an unknown scenario exits 1 and an unknown edge exits 2, each with a clear message."""
    code, _, err = run_cli(["sim", "run", "no-such-thing"], capsys)
    assert code == 1 and "no such scenario file" in err
    code, _, err = run_cli(["sim", "run", "kitchen-fire-night", "--edge", "b9"], capsys)
    assert code == 2 and "unknown edge(s) b9" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ndescription: x\nstart: 2026-11-24T02:00:00+08:00\nduration_s: 60\nwhen: 1\n")
    code, _, err = run_cli(["sim", "run", str(bad)], capsys)
    assert code == 1 and "bad.yaml: when: unknown key" in err
