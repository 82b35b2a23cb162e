"""Object classes the camera simulators render and the shipped detector knows, in model order."""

from __future__ import annotations

from typing import Final

CLASS_NAMES: Final[tuple[str, ...]] = (
    "person",
    "ebike",
    "bicycle",
    "pram",
    "wheelchair",
    "walker",
    "mobility_scooter",
    "trolley",
    "pet",
    "car",
    "tricycle",
    "heap",
)
"""Class names; index = class id of the shipped detector and of rendered labels."""

CLASS_ID: Final[dict[str, int]] = {name: i for i, name in enumerate(CLASS_NAMES)}

LIFT_HARD_NEGATIVES: Final[tuple[str, ...]] = ("bicycle", "pram", "wheelchair", "walker", "mobility_scooter")
"""Things users say get mistaken for e-bikes in lifts; holding the lift against them is the worst failure."""
