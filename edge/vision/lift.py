"""The lift controller interface (hold doors, voice warning, release) and a simulated lift."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger(__name__)


class LiftController(Protocol):
    """What the edge may command of a lift car: a real one is an elevator-controller/IO-module driver."""

    def hold_doors(self, reason: str) -> None:
        """Keep the car doors open (the car does not leave) until ``release``."""
        ...

    def play_warning(self, message: str) -> None:
        """Play a voice warning in the car."""
        ...

    def release(self) -> None:
        """Return the doors to normal operation and stop the warning."""
        ...


@dataclass(frozen=True, slots=True)
class LiftCommand:
    """One command a lift received, with the (frame) time it was issued."""

    t: float
    name: str
    detail: str = ""


@dataclass
class SimulatedLift:
    """A lift car that records commands and tracks whether its doors are held."""

    name: str = "lift"
    commands: list[LiftCommand] = field(default_factory=list)
    held: bool = False
    now: float = 0.0

    def hold_doors(self, reason: str) -> None:
        """Hold the doors open."""
        self.held = True
        self.commands.append(LiftCommand(self.now, "hold", reason))
        log.info("lift %s: doors held (%s)", self.name, reason)

    def play_warning(self, message: str) -> None:
        """Record the warning played."""
        self.commands.append(LiftCommand(self.now, "warn", message))

    def release(self) -> None:
        """Release the doors."""
        self.held = False
        self.commands.append(LiftCommand(self.now, "release"))
        log.info("lift %s: doors released", self.name)

    def first(self, name: str) -> LiftCommand | None:
        """The first command of a kind, if any."""
        return next((c for c in self.commands if c.name == name), None)
