"""Category silhouettes as simple shapes in a unit box, and how to draw them.

A silhouette is a ``body`` (filled with the product's colour and pattern) plus ``trim`` (soles,
zips, lamp stems) in neutral colours.  Coordinates are fractions of the object's box, so the
same shape can be drawn at any size, position and tilt.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import ImageDraw

from .frame import Frame, Point


@dataclass(frozen=True)
class Shape:
    """One drawing primitive: ``kind`` is polygon, ellipse, ring, rounded or line.

    ``points`` are the polygon/line vertices or the two box corners; ``width`` (a fraction of the
    box) is the stroke of rings and lines.
    """

    kind: str
    points: tuple[Point, ...]
    width: float = 0.0


@dataclass(frozen=True)
class Silhouette:
    """A category's drawing: body shapes, and trim shapes keyed by trim colour name."""

    body: tuple[Shape, ...]
    trim: tuple[tuple[str, Shape], ...] = ()


def _poly(*points: Point) -> Shape:
    return Shape("polygon", points)


def _mirrored(profile: tuple[tuple[float, float], ...]) -> Shape:
    """A left-right symmetric outline from (y, half-width) pairs, top to bottom."""
    right = tuple((0.5 + half, y) for y, half in profile)
    left = tuple((0.5 - half, y) for y, half in reversed(profile))
    return Shape("polygon", right + left)


def _cushion_outline(steps: int = 6, pinch: float = 0.06) -> Shape:
    """A wide rectangle whose sides bow inwards, like a stuffed cushion."""
    corners = ((0.02, 0.16), (0.98, 0.16), (0.98, 0.84), (0.02, 0.84))
    points: list[Point] = []
    for index, (x0, y0) in enumerate(corners):
        x1, y1 = corners[(index + 1) % 4]
        centre_x, centre_y = 0.5, 0.5
        for step in range(steps):
            t = step / steps
            bow = pinch * 4 * t * (1 - t)
            x, y = x0 + (x1 - x0) * t, y0 + (y1 - y0) * t
            points.append((x + (centre_x - x) * bow * 2, y + (centre_y - y) * bow * 2))
    return Shape("polygon", tuple(points))


SILHOUETTES: dict[str, Silhouette] = {
    "t-shirt": Silhouette((
        _poly((0.37, 0.06), (0.5, 0.14), (0.63, 0.06), (0.88, 0.16), (0.99, 0.40), (0.80, 0.47),
              (0.76, 0.34), (0.76, 0.96), (0.24, 0.96), (0.24, 0.34), (0.20, 0.47), (0.01, 0.40),
              (0.12, 0.16)),
    )),
    "dress": Silhouette((
        _poly((0.36, 0.02), (0.41, 0.02), (0.44, 0.16), (0.56, 0.16), (0.59, 0.02), (0.64, 0.02),
              (0.66, 0.24), (0.60, 0.40), (0.88, 0.98), (0.12, 0.98), (0.40, 0.40), (0.34, 0.24)),
    )),
    "trousers": Silhouette(
        (_poly((0.27, 0.02), (0.73, 0.02), (0.81, 0.98), (0.61, 0.98), (0.50, 0.30), (0.39, 0.98),
               (0.19, 0.98)),),
        (("dark", Shape("line", ((0.27, 0.08), (0.73, 0.08)), 0.025)),),
    ),
    "jacket": Silhouette(
        (_poly((0.37, 0.04), (0.5, 0.12), (0.63, 0.04), (0.84, 0.12), (0.99, 0.94), (0.85, 0.97),
               (0.74, 0.38), (0.74, 0.84), (0.26, 0.84), (0.26, 0.38), (0.15, 0.97), (0.01, 0.94),
               (0.16, 0.12)),),
        (("dark", Shape("line", ((0.5, 0.12), (0.5, 0.84)), 0.025)),
         ("dark", Shape("line", ((0.37, 0.04), (0.44, 0.22), (0.5, 0.12)), 0.02)),
         ("dark", Shape("line", ((0.63, 0.04), (0.56, 0.22), (0.5, 0.12)), 0.02))),
    ),
    "sneaker": Silhouette(
        (_poly((0.02, 0.74), (0.05, 0.58), (0.24, 0.50), (0.42, 0.42), (0.55, 0.26), (0.80, 0.22),
               (0.95, 0.30), (0.98, 0.74)),),
        (("sole", Shape("rounded", ((0.01, 0.70), (0.99, 0.82)), 0.04)),
         ("sole", Shape("line", ((0.40, 0.46), (0.50, 0.36)), 0.02)),
         ("sole", Shape("line", ((0.34, 0.50), (0.44, 0.41)), 0.02))),
    ),
    "boot": Silhouette(
        (_poly((0.28, 0.02), (0.66, 0.02), (0.66, 0.56), (0.90, 0.68), (0.96, 0.86), (0.26, 0.86)),),
        (("dark", Shape("rounded", ((0.25, 0.85), (0.97, 0.95)), 0.03)),
         ("dark", Shape("polygon", ((0.26, 0.86), (0.40, 0.86), (0.40, 0.99), (0.28, 0.99)))),
         ("sole", Shape("polygon", ((0.66, 0.12), (0.74, 0.12), (0.74, 0.40), (0.66, 0.40))))),
    ),
    "handbag": Silhouette(
        (Shape("ring", ((0.28, 0.08), (0.72, 0.64)), 0.06),
         _poly((0.12, 0.40), (0.88, 0.40), (0.97, 0.95), (0.03, 0.95))),
        (("metal", Shape("rounded", ((0.44, 0.46), (0.56, 0.56)), 0.02)),),
    ),
    "backpack": Silhouette(
        (Shape("ring", ((0.41, 0.02), (0.59, 0.18)), 0.04),
         Shape("ellipse", ((0.13, 0.12), (0.87, 0.62))),
         Shape("rounded", ((0.13, 0.37), (0.87, 0.96)), 0.10)),
        (("dark", Shape("line", ((0.25, 0.58), (0.75, 0.58), (0.75, 0.88), (0.25, 0.88), (0.25, 0.58)),
                        0.025)),
         ("dark", Shape("line", ((0.28, 0.42), (0.72, 0.42)), 0.025))),
    ),
    "hat": Silhouette(
        (Shape("ellipse", ((0.01, 0.56), (0.99, 0.84))),
         Shape("rounded", ((0.23, 0.16), (0.77, 0.72)), 0.18)),
        (("dark", Shape("polygon", ((0.23, 0.54), (0.77, 0.54), (0.77, 0.63), (0.23, 0.63)))),),
    ),
    "scarf": Silhouette((  # laid flat on the diagonal, fringed at both ends
        _poly((0.05, 0.27), (0.27, 0.05), (0.95, 0.73), (0.73, 0.95)),
        *(Shape("line", ((0.05 + 0.055 * k, 0.27 - 0.055 * k), (-0.01 + 0.055 * k, 0.21 - 0.055 * k)), 0.02)
          for k in range(5)),
        *(Shape("line", ((0.73 + 0.055 * k, 0.95 - 0.055 * k), (0.79 + 0.055 * k, 1.01 - 0.055 * k)), 0.02)
          for k in range(5)),
    )),
    "tie": Silhouette((
        _poly((0.38, 0.02), (0.62, 0.02), (0.57, 0.16), (0.43, 0.16)),
        _poly((0.44, 0.18), (0.56, 0.18), (0.72, 0.82), (0.50, 0.99), (0.28, 0.82)),
    )),
    "mug": Silhouette(
        (Shape("ring", ((0.58, 0.32), (0.96, 0.76)), 0.08),
         Shape("rounded", ((0.10, 0.16), (0.74, 0.96)), 0.06)),
        (("dark", Shape("ellipse", ((0.13, 0.12), (0.71, 0.22)))),),
    ),
    "cushion": Silhouette((_cushion_outline(),), (("dark", Shape("ellipse", ((0.46, 0.46), (0.54, 0.54)))),)),
    "lamp": Silhouette(
        (_poly((0.28, 0.03), (0.72, 0.03), (0.90, 0.48), (0.10, 0.48)),
         Shape("ellipse", ((0.26, 0.82), (0.74, 0.98)))),
        (("metal", Shape("polygon", ((0.47, 0.48), (0.53, 0.48), (0.53, 0.86), (0.47, 0.86)))),),
    ),
    "vase": Silhouette((
        _mirrored(((0.03, 0.15), (0.08, 0.10), (0.24, 0.11), (0.42, 0.28), (0.62, 0.34), (0.82, 0.28),
                   (0.97, 0.18))),
    )),
}


def draw_shape(draw: ImageDraw.ImageDraw, shape: Shape, frame: Frame, fill) -> None:
    """Draw ``shape`` through ``frame`` (the object's tilted box) with colour ``fill``."""
    if shape.kind == "polygon":
        frame.polygon(draw, shape.points, fill)
    elif shape.kind == "ellipse":
        frame.ellipse(draw, *shape.points, fill)
    elif shape.kind == "ring":
        frame.ellipse(draw, *shape.points, fill, ring=shape.width)
    elif shape.kind == "rounded":
        frame.rounded(draw, *shape.points, shape.width, fill)
    elif shape.kind == "line":
        frame.line(draw, shape.points, shape.width, fill)
    else:
        raise ValueError(f"unknown shape kind {shape.kind!r}")
