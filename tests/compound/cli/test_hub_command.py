"""Tests of ``compound hub``'s time-series options: flags over environment, the token only from the environment."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from compound.cli import build_parser
from compound.cli.commands.hub import run, timeseries_settings


def _args(*extra: str) -> argparse.Namespace:
    return build_parser().parse_args(["hub", *extra])


def test_default_is_the_embedded_store_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test that without flags or environment the hub keeps its series only in the embedded store."""
    for name in ("COMPOUND_INFLUX_URL", "COMPOUND_INFLUX_ORG", "COMPOUND_INFLUX_BUCKET"):
        monkeypatch.delenv(name, raising=False)
    settings = timeseries_settings(_args())
    assert settings.influx_url is None and settings.influx_org == "compound" and settings.influx_bucket == "compound"


def test_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test that COMPOUND_INFLUX_* are read and that --influx-* flags win over them."""
    monkeypatch.setenv("COMPOUND_INFLUX_URL", "http://tsdb:8428/")
    monkeypatch.setenv("COMPOUND_INFLUX_ORG", "env-org")
    monkeypatch.setenv("COMPOUND_INFLUX_BUCKET", "env-bucket")
    settings = timeseries_settings(_args())
    assert (settings.influx_url, settings.influx_org, settings.influx_bucket) == (
        "http://tsdb:8428", "env-org", "env-bucket",
    )  # fmt: skip
    settings = timeseries_settings(_args("--influx-url", "https://influx.example:8086", "--influx-bucket", "b"))
    assert (settings.influx_url, settings.influx_org, settings.influx_bucket) == (
        "https://influx.example:8086", "env-org", "b",
    )  # fmt: skip


def test_the_token_is_never_a_flag(capsys: pytest.CaptureFixture[str]) -> None:
    """Test that there is no token option: it comes only from COMPOUND_INFLUX_TOKEN."""
    with pytest.raises(SystemExit):
        build_parser().parse_args(["hub", "--influx-token", "secret"])
    assert "unrecognized arguments: --influx-token" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["hub", "--help"])
    assert "$COMPOUND_INFLUX_TOKEN" in capsys.readouterr().out


def test_a_bad_url_is_refused_before_anything_starts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Test that a malformed --influx-url exits 2 with a clear message and creates no files."""
    args = _args("--influx-url", "tsdb:8086", "--data-dir", str(tmp_path / "data"))
    assert run(args) == 2
    err = capsys.readouterr().err
    assert "bad time-series settings" in err and "http(s)://host:port" in err
    assert not (tmp_path / "data").exists()
