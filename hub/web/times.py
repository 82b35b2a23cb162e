"""Times that routes take as query parameters: local when they carry no offset, and within a sane range."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from fastapi import HTTPException, status

from compound.config import Compound

__all__ = ["EARLIEST_YEAR", "LATEST_YEAR", "query_time"]

EARLIEST_YEAR: Final = 1971
LATEST_YEAR: Final = 9998
"""Outside these a time is a 422: arithmetic on year 1 or 9999 overflows (schemathesis found a 500)."""


def query_time(at: datetime, compound: Compound) -> datetime:
    """``at`` in the compound's zone when it has no offset; 422 when it is outside the years we accept."""
    if not EARLIEST_YEAR <= at.year <= LATEST_YEAR:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"time {at.isoformat()} is out of range")
    return at.replace(tzinfo=compound.tz) if at.tzinfo is None else at
