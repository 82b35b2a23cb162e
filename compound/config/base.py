"""What every config model builds on: the ``Strict`` base, the id, name and phone field types, ``TimeWindow``."""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

Id = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="Identifier: letters, digits, '-', '_', '.', at most 64 characters.",
    ),
]
Name = Annotated[str, Field(min_length=1, max_length=80, description="Display name.")]
Phone = Annotated[
    str, Field(pattern=r"^\+?[0-9 ()-]{5,24}$", description="Phone number, digits with optional +, spaces, dashes.")
]

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class Strict(BaseModel):
    """Base of every config model: frozen, unknown keys forbidden."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _parse_hhmm(value: object) -> object:
    if isinstance(value, str):
        match = _HHMM.match(value)
        if not match:
            raise ValueError(f"time {value!r} must be HH:MM (24-hour)")
        return time(int(match.group(1)), int(match.group(2)))
    return value


class TimeWindow(Strict):
    """A daily window in compound local time; ``end`` before ``start`` crosses midnight."""

    start: time = Field(description="Start, HH:MM local time.")
    end: time = Field(description="End, HH:MM local time (exclusive).")

    _parse = field_validator("start", "end", mode="before")(_parse_hhmm)

    def contains(self, moment: time) -> bool:
        """True if the local time of day ``moment`` falls inside the window."""
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end
