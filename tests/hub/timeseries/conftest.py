"""Fixtures for the time-series tests: a real VictoriaMetrics on a free port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hub.timeseries.vm import VictoriaMetricsServer


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[VictoriaMetricsServer]:
    """A fresh VictoriaMetrics for one test."""
    server = VictoriaMetricsServer(tmp_path / "vm")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def shared_victoria(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetricsServer]:
    """One VictoriaMetrics for a whole module (property-based tests write many small examples)."""
    server = VictoriaMetricsServer(tmp_path_factory.mktemp("vm"))
    server.start()
    yield server
    server.stop()
