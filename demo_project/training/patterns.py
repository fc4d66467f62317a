"""Surface patterns (stripes, dots, checks, zigzags, flowers) drawn over a product's fill.

Patterns are drawn across the object's whole unit square (through its ``Frame``, so they tilt
with it); the silhouette mask clips them later.  Sizes are fractions of the object so a
pattern stays visible after the mini model's 32 px resize.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import ImageDraw

from .frame import Frame
from .vocabulary import Rgb


def ink_for(base: Rgb) -> Rgb:
    """The pattern's second colour: near-white on dark or mid bases, charcoal on light ones."""
    luminance = 0.299 * base[0] + 0.587 * base[1] + 0.114 * base[2]
    return (55, 55, 60) if luminance > 165 else (245, 245, 240)


def mix(first: Rgb, second: Rgb, amount: float) -> Rgb:
    """``first`` moved ``amount`` (0..1) of the way towards ``second``."""
    return tuple(round(a + (b - a) * amount) for a, b in zip(first, second, strict=True))


def _steps(start: float, step: float, stop: float = 1.0) -> np.ndarray:
    return np.arange(start, stop + step, step)


def _stripes(draw, frame, base, ink, period, phase, rng) -> None:
    width = period * rng.uniform(0.38, 0.5)
    horizontal = rng.random() < 0.7
    for offset in _steps(-phase, period):
        u0, u1 = offset, offset + width
        corners = ((0, u0), (1, u0), (1, u1), (0, u1)) if horizontal else ((u0, 0), (u1, 0), (u1, 1), (u0, 1))
        frame.polygon(draw, corners, ink)


def _dots(draw, frame, base, ink, period, phase, rng) -> None:
    radius = period * rng.uniform(0.2, 0.26)
    for row, v in enumerate(_steps(-phase, period)):
        shift = period / 2 if row % 2 else 0.0
        for u in _steps(-phase + shift, period):
            frame.circle(draw, (u, v), radius, ink)


def _checks(draw, frame, base, ink, period, phase, rng) -> None:
    shade = mix(base, ink, rng.uniform(0.45, 0.6))
    cell = period * 0.9
    for row, v in enumerate(_steps(-phase, cell)):
        for column, u in enumerate(_steps(-phase, cell)):
            if (row + column) % 2:
                frame.polygon(draw, ((u, v), (u + cell, v), (u + cell, v + cell), (u, v + cell)), shade)


def _zigzags(draw, frame, base, ink, period, phase, rng) -> None:
    half_wave, amplitude = period * 0.6, period * 0.3
    for v in _steps(-phase, period * 1.05):
        points = [(u, v + (amplitude if index % 2 else -amplitude))
                  for index, u in enumerate(_steps(-half_wave, half_wave, 1 + half_wave))]
        frame.line(draw, points, period * 0.3, ink)


def _flowers(draw, frame, base, ink, period, phase, rng) -> None:
    spacing = period * 1.5
    petal = spacing * 0.17
    for v in _steps(-phase, spacing):
        for u in _steps(-phase, spacing):
            cu, cv = u + rng.uniform(-0.15, 0.15) * spacing, v + rng.uniform(-0.15, 0.15) * spacing
            turn = rng.uniform(0, 2 * math.pi)
            for k in range(5):
                angle = turn + k * 2 * math.pi / 5
                frame.circle(draw, (cu + math.cos(angle) * petal * 1.3, cv + math.sin(angle) * petal * 1.3),
                             petal, ink)
            frame.circle(draw, (cu, cv), petal * 0.8, base)


_DRAWERS = {"striped": _stripes, "polka-dot": _dots, "checked": _checks, "zigzag": _zigzags, "floral": _flowers}


def draw_pattern(draw: ImageDraw.ImageDraw, slug: str, frame: Frame, base: Rgb, rng: np.random.Generator) -> None:
    """Draw pattern ``slug`` over the object's unit square in ``frame``; "solid" draws nothing."""
    if slug == "solid":
        return
    if slug not in _DRAWERS:
        raise ValueError(f"unknown pattern {slug!r}")
    period = rng.uniform(0.15, 0.19)  # bold: finer patterns blur away at the mini model's 32 px
    _DRAWERS[slug](draw, frame, base, ink_for(base), period, rng.uniform(0, period), rng)
