"""Draw in an object's own tilted unit square.

Rotating shape coordinates is exact and several times cheaper than rotating a rendered
image, so silhouettes and patterns are drawn through a ``Frame`` that maps (u, v) in [0, 1]^2
to rotated pixel positions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from PIL import ImageDraw

Point = tuple[float, float]

_ELLIPSE_STEPS = 28
_CORNER_STEPS = 5


class Frame:
    """The square box (``left``, ``top``, ``side`` in pixels) tilted by ``angle`` degrees about its centre."""

    def __init__(self, left: float, top: float, side: float, angle: float = 0.0) -> None:
        self.side = side
        self.centre = (left + side / 2, top + side / 2)
        radians = math.radians(angle)
        self._cos, self._sin = math.cos(radians), math.sin(radians)

    def point(self, u: float, v: float) -> Point:
        """Unit-square coordinates -> pixel coordinates."""
        du, dv = (u - 0.5) * self.side, (v - 0.5) * self.side
        return (self.centre[0] + du * self._cos - dv * self._sin,
                self.centre[1] + du * self._sin + dv * self._cos)

    def pixels(self, length: float) -> int:
        """A unit-square length (stroke width) -> whole pixels, at least one."""
        return max(1, round(length * self.side))

    def polygon(self, draw: ImageDraw.ImageDraw, points: Sequence[Point], fill) -> None:
        draw.polygon([self.point(u, v) for u, v in points], fill=fill)

    def line(self, draw: ImageDraw.ImageDraw, points: Sequence[Point], width: float, fill) -> None:
        draw.line([self.point(u, v) for u, v in points], fill=fill, width=self.pixels(width), joint="curve")

    def circle(self, draw: ImageDraw.ImageDraw, centre: Point, radius: float, fill) -> None:
        x, y = self.point(*centre)
        r = radius * self.side
        draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)

    def ellipse(self, draw: ImageDraw.ImageDraw, corner: Point, opposite: Point, fill,
                ring: float = 0.0) -> None:
        """A filled ellipse in the box ``corner``-``opposite``, or its outline ``ring`` wide."""
        cu, cv = (corner[0] + opposite[0]) / 2, (corner[1] + opposite[1]) / 2
        ru, rv = (opposite[0] - corner[0]) / 2, (opposite[1] - corner[1]) / 2
        outline = [(cu + ru * math.cos(t), cv + rv * math.sin(t))
                   for t in (2 * math.pi * k / _ELLIPSE_STEPS for k in range(_ELLIPSE_STEPS))]
        if ring:
            self.line(draw, [*outline, outline[0], outline[1]], ring, fill)
        else:
            self.polygon(draw, outline, fill)

    def rounded(self, draw: ImageDraw.ImageDraw, corner: Point, opposite: Point, radius: float, fill) -> None:
        """A filled rectangle with corners rounded by ``radius``."""
        (u0, v0), (u1, v1) = corner, opposite
        radius = min(radius, (u1 - u0) / 2, (v1 - v0) / 2)
        centres = ((u1 - radius, v0 + radius, -90), (u1 - radius, v1 - radius, 0),
                   (u0 + radius, v1 - radius, 90), (u0 + radius, v0 + radius, 180))
        outline = []
        for cu, cv, start in centres:
            for step in range(_CORNER_STEPS + 1):
                angle = math.radians(start + 90 * step / _CORNER_STEPS)
                outline.append((cu + radius * math.cos(angle), cv + radius * math.sin(angle)))
        self.polygon(draw, outline, fill)
