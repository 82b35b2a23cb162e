"""Procedural side-view drawings of every rendered class, in local centimetres (origin at ground, y up).

Each drawer takes a ``Painter`` (placement, scale, flip), a seeded ``Style`` (colours and shape
variation) and an animation ``phase`` (walking legs, rolling wheels). The classes differ where
real ones do: an e-bike has small wide tyres, a low footboard and a battery box; a bicycle has
large thin wheels, a diamond frame and a crank; a mobility scooter has four small wheels and a tiller.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from simulators.camera.painter import Color, Painter


def _rand_color(rng: np.random.Generator, lo: int = 20, hi: int = 235) -> Color:
    c = rng.integers(lo, hi, size=3)
    return int(c[0]), int(c[1]), int(c[2])


def _shade(c: Color, f: float) -> Color:
    return tuple(int(max(0, min(255, v * f))) for v in c)  # type: ignore[return-value]


@dataclass
class Style:
    """Seeded appearance of one object: colours and proportions."""

    rng: np.random.Generator
    main: Color = (0, 0, 0)
    second: Color = (0, 0, 0)
    dark: Color = (0, 0, 0)
    skin: Color = (0, 0, 0)
    size: float = 1.0
    variant: int = 0
    extra: dict[str, float] = field(default_factory=dict)

    @classmethod
    def random(cls, rng: np.random.Generator) -> Style:
        """A random style."""
        dark_v = int(rng.integers(15, 70))
        skin = (int(rng.integers(90, 170)), int(rng.integers(130, 200)), int(rng.integers(170, 235)))
        return cls(
            rng=rng,
            main=_rand_color(rng),
            second=_rand_color(rng),
            dark=(dark_v, dark_v + int(rng.integers(0, 10)), dark_v + int(rng.integers(0, 10))),
            skin=skin,
            size=float(rng.uniform(0.9, 1.1)),
            variant=int(rng.integers(0, 4)),
        )


def _wheel(p: Painter, cx: float, cy: float, r: float, tyre: float, s: Style, spokes: int, phase: float) -> None:
    p.circle((cx, cy), r - tyre / 2, s.dark, width=tyre)
    if spokes:
        metal = (150, 150, 155)
        for k in range(spokes):
            a = phase + k * math.pi / spokes
            dx, dy = math.cos(a) * (r - tyre), math.sin(a) * (r - tyre)
            p.line((cx - dx, cy - dy), (cx + dx, cy + dy), 0.8, metal)
    p.circle((cx, cy), max(2.0, r * 0.12), (120, 120, 125))


def draw_person(p: Painter, s: Style, phase: float, seated: bool = False, lean: float = 0.0) -> None:
    """A person walking (or seated, when ``seated``), side view."""
    h = 168 * s.size
    shirt, pants = s.main, s.second if s.variant % 2 else s.dark
    swing = math.sin(phase) * 22
    hip_y = h * 0.50
    if seated:
        hip_y = 0.0
        p.line((0, hip_y), (30, hip_y), 13, pants)
        p.line((30, hip_y), (30, hip_y - 40), 11, pants)
    else:
        p.line((0, hip_y), (swing * 0.7, 8), 12, pants)
        p.line((0, hip_y), (-swing * 0.7, 8), 12, _shade(pants, 0.8))
        p.poly([(swing * 0.7 - 4, 0), (swing * 0.7 + 14, 0), (swing * 0.7 + 12, 8), (swing * 0.7 - 4, 9)], s.dark)
    top = hip_y + h * 0.32
    p.poly([(-13 + lean, hip_y), (13 + lean, hip_y), (11 + lean * 1.5, top), (-11 + lean * 1.5, top)], shirt)
    p.line((lean * 1.5, top - 5), (lean * 1.5 + 10 - swing * 0.3, top - 55), 8, _shade(shirt, 0.85))
    if s.variant == 3:
        p.poly([(-16 + lean, top - 5), (-12 + lean, top - 40), (-24 + lean, top - 42), (-27 + lean, top - 8)], s.dark)
    p.line((lean * 1.5, top), (lean * 1.5, top + 8), 7, s.skin)
    p.circle((lean * 1.6, top + 19), 11.5, s.skin)
    hair = int(s.rng.integers(10, 60))
    p.ellipse((lean * 1.6 - 2, top + 25), 11.5, 6, (hair, hair, hair))


def draw_ebike(p: Painter, s: Style, phase: float) -> None:
    """An e-bike: small wide tyres, low step-through footboard, battery box, plastic body panels."""
    r, tyre = 24.0 * s.size, 7.5
    fx, bx = 62.0, -62.0
    _wheel(p, bx, r, r, tyre, s, 0, phase)
    _wheel(p, fx, r, r, tyre, s, 0, phase)
    body = s.main
    # rear body shell over the back wheel with the seat on top
    p.poly([(bx - 22, r + 18), (bx + 30, r + 12), (bx + 34, r + 40), (bx - 18, r + 48), (bx - 30, r + 34)], body)
    # footboard between the wheels, low and flat
    p.poly([(bx + 22, r - 2), (fx - 26, r - 2), (fx - 22, r + 9), (bx + 26, r + 9)], _shade(body, 0.7))
    # battery box under the seat (dark, boxy)
    p.poly([(bx + 4, r + 8), (bx + 34, r + 8), (bx + 34, r + 34), (bx + 4, r + 34)], (28, 28, 32))
    p.line((bx + 6, r + 20), (bx + 32, r + 20), 2.5, _shade(s.second, 1.0))
    # front shield (leg guard) rising to the head tube
    p.poly([(fx - 26, r + 4), (fx - 14, r + 4), (fx - 2, r + 70), (fx - 16, r + 72)], body)
    p.line((fx, r), (fx - 8, r + 78), 5, (70, 70, 75))
    p.line((fx - 14, r + 80), (fx + 6, r + 84), 5, s.dark)
    p.circle((fx - 1, r + 70), 5.5, (200, 210, 220))  # headlight
    p.poly([(bx - 14, r + 48), (bx + 32, r + 44), (bx + 30, r + 52), (bx - 12, r + 55)], s.dark)  # seat
    if s.variant >= 2:  # front basket or rear box
        p.polyline([(fx - 2, r + 60), (fx + 18, r + 60), (fx + 20, r + 80), (fx - 2, r + 80)], 2, (60, 60, 60), True)
    if s.variant == 1:
        p.line((fx - 12, r + 82), (fx - 16, r + 96), 1.5, (40, 40, 40))
        p.ellipse((fx - 17, r + 98), 4, 3, (180, 180, 190))


def draw_bicycle(p: Painter, s: Style, phase: float) -> None:
    """A bicycle: big thin wheels with spokes, thin diamond frame, crank and pedals, no footboard."""
    r, tyre = 33.0 * s.size, 2.6
    fx, bx = 55.0, -52.0
    _wheel(p, bx, r, r, tyre, s, 8, phase)
    _wheel(p, fx, r, r, tyre, s, 8, phase)
    frame = s.main
    crank = (-2.0, r)
    seat = (-16.0, r + 52)
    head = (40.0, r + 50)
    w = 2.4
    p.line((bx, r), crank, w, frame)
    p.line((bx, r), seat, w, frame)
    p.line(crank, seat, w, frame)
    p.line(crank, head, w, frame)
    p.line(seat, (head[0] - 2, head[1] + 2), w, frame)
    p.line(head, (fx, r), w, frame)
    p.line(head, (head[0] - 3, head[1] + 14), w, (80, 80, 80))
    p.line((head[0] - 12, head[1] + 14), (head[0] + 4, head[1] + 16), 2.5, s.dark)
    p.line(seat, (seat[0] - 2, seat[1] + 10), w, (80, 80, 80))
    p.poly([(seat[0] - 14, seat[1] + 10), (seat[0] + 8, seat[1] + 11), (seat[0] + 6, seat[1] + 14),
            (seat[0] - 12, seat[1] + 14)], s.dark)
    p.circle(crank, 7, (110, 110, 115), width=2)
    a = phase * 1.5
    p1 = (crank[0] + math.cos(a) * 13, crank[1] + math.sin(a) * 13)
    p2 = (crank[0] - math.cos(a) * 13, crank[1] - math.sin(a) * 13)
    p.line(crank, p1, 2, (90, 90, 90))
    p.line(crank, p2, 2, (90, 90, 90))
    p.line((p1[0] - 4, p1[1]), (p1[0] + 4, p1[1]), 3, s.dark)
    p.line((p2[0] - 4, p2[1]), (p2[0] + 4, p2[1]), 3, s.dark)


def draw_pram(p: Painter, s: Style, phase: float) -> None:
    """A pram: bassinet body, hood, four small wheels, push handle."""
    r = 10.0 * s.size
    for x in (-30.0, 28.0):
        _wheel(p, x, r, r, 3.0, s, 0, phase)
    p.line((-30, r), (-8, 45), 2.2, (150, 150, 155))
    p.line((28, r), (8, 45), 2.2, (150, 150, 155))
    p.poly([(-36, 45), (34, 45), (38, 62), (30, 78), (-34, 78)], s.main)
    p.poly([(-34, 78), (-6, 78), (-10, 100), (-26, 103), (-38, 92)], _shade(s.main, 0.75))  # hood
    p.line((30, 70), (55, 100), 2.5, (140, 140, 145))
    p.line((50, 100), (60, 100), 4, s.dark)


def draw_wheelchair(p: Painter, s: Style, phase: float) -> None:
    """A wheelchair: large spoked rear wheel with push rim, small caster, seat, backrest, handles."""
    r = 30.0 * s.size
    _wheel(p, -10, r, r, 3.0, s, 6, phase)
    p.circle((-10, r), r - 6, (170, 170, 175), width=1.2)
    _wheel(p, 34, 7, 7, 2.5, s, 0, phase)
    metal = (160, 160, 165)
    p.line((34, 7), (30, 42), 2.2, metal)
    p.line((-14, 48), (34, 48), 2.5, metal)
    p.poly([(-16, 44), (28, 44), (28, 52), (-16, 52)], s.main)  # seat
    p.poly([(-22, 48), (-14, 48), (-20, 92), (-28, 92)], s.main)  # backrest
    p.line((-24, 92), (-36, 96), 3, s.dark)  # push handle
    p.line((30, 42), (40, 18), 2, metal)
    p.line((36, 18), (46, 18), 3, s.dark)  # footrest


def draw_walker(p: Painter, s: Style, phase: float) -> None:
    """A rollator walker: tube frame, four small wheels, hand grips, small seat."""
    metal = s.main
    for x in (-24.0, 22.0):
        _wheel(p, x, 8, 8, 3.0, s, 0, phase)
    p.line((-24, 8), (-18, 85), 2.6, metal)
    p.line((22, 8), (14, 85), 2.6, metal)
    p.line((-20, 50), (16, 50), 2.2, metal)
    p.poly([(-19, 50), (15, 50), (14, 56), (-18, 56)], s.dark)  # seat
    p.line((-22, 85), (-8, 88), 4, s.dark)
    p.line((10, 88), (20, 85), 4, s.dark)
    p.polyline([(-16, 44), (14, 44), (12, 30), (-14, 30)], 1.2, s.second, True)  # basket


def draw_mobility_scooter(p: Painter, s: Style, phase: float) -> None:
    """A mobility scooter: four small wheels, long low deck, armchair seat with backrest, tiller."""
    r = 11.0 * s.size
    for x in (-44.0, -28.0, 38.0, 52.0):
        _wheel(p, x, r, r, 4.0, s, 0, phase)
    p.poly([(-56, r + 2), (60, r + 2), (62, r + 14), (-58, r + 16)], _shade(s.main, 0.8))  # deck
    p.poly([(36, r + 8), (64, r + 8), (58, r + 34), (40, r + 34)], s.main)  # front shroud
    p.line((46, r + 30), (34, r + 82), 5, (70, 70, 75))  # tiller
    p.line((28, r + 84), (42, r + 84), 4, s.dark)
    p.line((-34, r + 16), (-34, r + 34), 5, (90, 90, 95))
    p.poly([(-52, r + 34), (-8, r + 34), (-8, r + 44), (-52, r + 44)], s.dark)  # seat cushion
    p.poly([(-56, r + 40), (-46, r + 40), (-48, r + 88), (-58, r + 88)], s.dark)  # backrest
    p.line((-48, r + 56), (-14, r + 56), 3, s.dark)  # armrest
    p.poly([(-60, r + 4), (-52, r + 4), (-52, r + 22), (-62, r + 20)], s.second)  # rear bumper


def draw_trolley(p: Painter, s: Style, phase: float) -> None:
    """A shopping trolley: wire basket grid on a frame, four casters, handle."""
    metal = (175, 175, 180) if s.variant % 2 else s.main
    for x in (-30.0, 30.0):
        _wheel(p, x, 6, 6, 3.0, s, 0, phase)
    p.line((-30, 6), (-34, 40), 2, metal)
    p.line((30, 6), (40, 40), 2, metal)
    p.polyline([(-40, 40), (46, 40), (52, 95), (-46, 95)], 2.2, metal, True)
    for k in range(1, 6):
        x0 = -40 + k * 86 / 6
        p.line((x0, 40), (x0 - 1 + k * 0.5, 95), 1.0, metal)
    for k in range(1, 4):
        y0 = 40 + k * 55 / 4
        p.line((-40 - k * 1.5, y0), (46 + k * 1.5, y0), 1.0, metal)
    p.line((-46, 95), (-56, 104), 3.5, s.second)


def draw_pet(p: Painter, s: Style, phase: float) -> None:
    """A dog: body, head with ears, four legs, tail."""
    fur = s.main if s.variant < 2 else s.dark
    k = 0.8 + 0.5 * (s.variant % 2)
    sw = math.sin(phase) * 6
    for x, o in ((-20, sw), (-12, -sw), (16, -sw), (24, sw)):
        p.line((x * k, 22 * k), (x * k + o, 0), 4.5 * k, _shade(fur, 0.85))
    p.ellipse((2 * k, 28 * k), 27 * k, 11 * k, fur)
    p.circle((30 * k, 40 * k), 9 * k, fur)
    p.ellipse((38 * k, 37 * k), 6 * k, 4 * k, _shade(fur, 0.8))
    p.ellipse((26 * k, 48 * k), 3.5 * k, 6 * k, _shade(fur, 0.6))
    p.line((-24 * k, 32 * k), (-36 * k, 42 * k + sw * 0.5), 3 * k, fur)


def draw_car(p: Painter, s: Style, phase: float) -> None:
    """A car, side view: body, cabin with windows, two wheels, lights."""
    L = 430.0 * s.size
    body = s.main
    r = 32.0
    p.poly([(-L / 2, 22), (L / 2, 22), (L / 2 + 4, 70), (L / 2 - 30, 92), (-L / 2 + 10, 96), (-L / 2 - 4, 60)], body)
    cabin_top = 145 if s.variant < 3 else 175
    p.poly([(-L * 0.30, 94), (L * 0.22, 92), (L * 0.08, cabin_top), (-L * 0.22, cabin_top)], _shade(body, 0.95))
    glass = (90, 70, 50)
    p.poly([(-L * 0.26, 98), (-L * 0.04, 98), (-L * 0.04, cabin_top - 8), (-L * 0.19, cabin_top - 8)], glass)
    p.poly([(-L * 0.01, 98), (L * 0.18, 97), (L * 0.06, cabin_top - 8), (-L * 0.01, cabin_top - 8)], glass)
    for x in (-L * 0.32, L * 0.32):
        _wheel(p, x, r, r, 11, s, 0, phase)
    p.ellipse((L / 2 - 4, 70), 5, 6, (200, 230, 240))
    p.ellipse((-L / 2 + 2, 66), 5, 6, (40, 40, 200))


def draw_tricycle(p: Painter, s: Style, phase: float) -> None:
    """A cargo tricycle: front wheel, driver seat, cargo box over two rear wheels."""
    r = 24.0
    _wheel(p, 95, r, r, 6, s, 0, phase)
    _wheel(p, -70, r, r, 6, s, 0, phase)
    _wheel(p, -40, r, r, 6, s, 0, phase)
    p.poly([(-120, r + 6), (0, r + 6), (0, r + 56), (-120, r + 56)], s.main)  # cargo box
    p.polyline([(-120, r + 56), (0, r + 56), (0, r + 6), (-120, r + 6)], 2, _shade(s.main, 0.6), True)
    p.line((0, r + 10), (95, r), 5, s.dark)
    p.line((85, r + 70), (95, r), 4, (80, 80, 85))
    p.line((76, r + 74), (92, r + 74), 4, s.dark)
    p.poly([(20, r + 40), (46, r + 40), (44, r + 46), (22, r + 46)], s.dark)
    if s.variant >= 2:  # canopy
        p.poly([(-4, r + 60), (70, r + 60), (80, r + 110), (6, r + 112)], _shade(s.second, 0.9))


def draw_heap(p: Painter, s: Style, phase: float) -> None:
    """Cardboard boxes piled up, or an irregular debris heap."""
    rng = np.random.default_rng(int(s.extra.get("seed", 0)))
    if s.variant % 2 == 0:
        x = -70.0
        n = int(rng.integers(3, 6))
        tops: list[tuple[float, float, float]] = []
        for _ in range(n):
            w = float(rng.uniform(30, 55))
            hgt = float(rng.uniform(25, 45))
            base = 0.0
            for tx, tw, th in tops:
                if tx < x + w and x < tx + tw:
                    base = max(base, th)
            col = (int(rng.integers(40, 80)), int(rng.integers(95, 135)), int(rng.integers(150, 190)))
            p.poly([(x, base), (x + w, base), (x + w, base + hgt), (x, base + hgt)], col)
            p.line((x + w / 2, base + hgt), (x + w / 2, base + hgt * 0.7), 2, _shade(col, 0.6))
            tops.append((x, w, base + hgt))
            x += float(rng.uniform(10, 40))
            if x > 60:
                x = float(rng.uniform(-70, 0))
    else:
        pts: list[tuple[float, float]] = []
        n = 11
        for k in range(n + 1):
            a = math.pi * k / n
            rad = float(rng.uniform(0.6, 1.0))
            pts.append((math.cos(a) * 90 * rad, math.sin(a) * 60 * rad))
        grey = int(rng.integers(60, 120))
        p.poly(pts, (grey, grey, grey))
        for _ in range(8):
            cx, cy = float(rng.uniform(-60, 60)), float(rng.uniform(5, 40))
            p.ellipse((cx, cy), float(rng.uniform(5, 14)), float(rng.uniform(3, 9)), _rand_color(rng, 30, 160))


Drawer = Callable[[Painter, Style, float], None]

DRAWERS: dict[str, Drawer] = {
    "person": draw_person,
    "ebike": draw_ebike,
    "bicycle": draw_bicycle,
    "pram": draw_pram,
    "wheelchair": draw_wheelchair,
    "walker": draw_walker,
    "mobility_scooter": draw_mobility_scooter,
    "trolley": draw_trolley,
    "pet": draw_pet,
    "car": draw_car,
    "tricycle": draw_tricycle,
    "heap": draw_heap,
}
"""Drawer per class name."""

LENGTH_CM: dict[str, float] = {
    "person": 40, "ebike": 175, "bicycle": 175, "pram": 95, "wheelchair": 90, "walker": 60,
    "mobility_scooter": 125, "trolley": 105, "pet": 80, "car": 440, "tricycle": 250, "heap": 180,
}
"""Approximate footprint length per class, for placing objects without walls cutting them."""
