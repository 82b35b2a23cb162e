"""Fixtures for edge tests: a start time in the sample compound's night, sample builders."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

NIGHT = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)  # 01:00 in Asia/Shanghai
DAY = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)  # 14:00 in Asia/Shanghai


@pytest.fixture
def night() -> datetime:
    """A moment inside the sample compound's night mode."""
    return NIGHT
