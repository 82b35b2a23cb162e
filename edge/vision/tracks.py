"""What a track's path says: an object seen entering through a door, or one that arrived (and may stay).

A detector imagines things in still pictures: a poster, a photograph, a pattern on the floor can score as
an e-bike or a car, frame after frame, as confidently as the real thing. What a still picture never does is
move. The rules therefore act on what the tracker saw happen, not on what the model says a frame shows:

- **seen entering** (the lift): the track's ground point went from the door zone into the car over
  consecutive detector runs, its box standing out from the scene the camera had been watching on the way;
- **arrived** (the fire lane): the track moved in standing out from the scene, or it appeared standing out
  from it (something dumped there); whatever stood there when the camera started, or stands in a picture
  that never changes, is part of the scene and never arrived.

The pixel evidence is the motion gate's background (``ForegroundMap``), recorded per sighting by the tracker
(``Observation.foreground``); the functions here only read track paths, so both rules share them.
"""

from __future__ import annotations

import math

from edge.vision.tracker import Observation, Track
from edge.vision.zones import Zone

__all__ = ["ENTRY_NEW", "ENTRY_TRAVEL", "MAX_GAP_S", "arrived", "seen_entering"]

ENTRY_TRAVEL = 0.05
"""How far (frame fractions) the ground point must have come into the car since it was seen in the door zone,
along the way in (door zone's centre -> car zone's centre): an e-bike wheeled in covers this in about half a
second."""

ENTRY_NEW = 2
"""Sightings on the way in that stand out from the scene (``Observation.new``)."""

MAX_GAP_S = 1.0
"""Consecutive: no two sightings on the way in further apart than this (the detector runs on every moving
frame; a longer gap is a re-check of a still scene, or an object lost and found again)."""


def _centre(zone: Zone) -> tuple[float, float]:
    xs, ys = zip(*zone.polygon, strict=True)
    return sum(xs) / len(xs), sum(ys) / len(ys)


def _way_in(door: Zone, inside: Zone) -> tuple[float, float]:
    """Unit vector from the door zone's centre to the car zone's (straight down the picture if they coincide)."""
    (dx, dy), (cx, cy) = _centre(door), _centre(inside)
    norm = math.hypot(cx - dx, cy - dy)
    return ((cx - dx) / norm, (cy - dy) / norm) if norm > 1e-6 else (0.0, 1.0)


def seen_entering(
    track: Track,
    door: Zone,
    inside: Zone,
    *,
    min_travel: float = ENTRY_TRAVEL,
    min_new: int = ENTRY_NEW,
    max_gap_s: float = MAX_GAP_S,
) -> bool:
    """True when ``track`` stands ``inside`` now and was seen coming in from ``door`` to get there.

    Walking its path back from the latest sighting over consecutive sightings (``max_gap_s``), some
    sighting stood in the door zone, the ground point has since come at least ``min_travel`` into the car
    (along the way in: from the door zone's centre towards the car zone's), and at least ``min_new``
    sightings since then stood out from the scene. A still picture, however it scores, never passes.
    """
    path: list[Observation] = list(track.path)
    if not path or not inside.covers(path[-1].box):
        return False
    ux, uy = _way_in(door, inside)
    x, y = path[-1].ground
    new = 0
    for i in range(len(path) - 1, -1, -1):
        obs = path[i]
        if i < len(path) - 1 and path[i + 1].t - obs.t > max_gap_s:
            return False
        new += obs.new
        if new >= min_new and door.contains(obs.ground):
            gx, gy = obs.ground
            if (x - gx) * ux + (y - gy) * uy >= min_travel:
                return True
    return False


def arrived(track: Track, *, min_travel: float = ENTRY_TRAVEL) -> bool:
    """True when ``track`` was seen arriving: it stood out from the scene when first seen (it appeared, or
    came in moving), or it moved ``min_travel`` from where it was first seen standing out from the scene."""
    return track.moved >= min_travel or (track.origin is not None and track.origin.new)
