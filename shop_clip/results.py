"""What the Python API returns: typed results, in rank order."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of a photo's width and height


class Mode(StrEnum):
    """How text search ranks: by looks and words fused, by looks only, or words required."""

    HYBRID = "hybrid"
    VECTOR = "vector"
    KEYWORD = "keyword"


@dataclass(frozen=True)
class Hit:
    """One product, how close it is (cosine similarity, higher is closer), and the image of it
    that matched (``"main"`` or ``"img:<pk>"``, as ``catalog.image_refs`` names them).  With
    variants, ``product`` is the family's product and ``variant`` the member whose image matched."""

    product: Any
    score: float
    image_key: str | None = None
    variant: Any = None


@dataclass(frozen=True)
class Page:
    """A page of products, best first; ``more`` says whether a product ranks after its last."""

    hits: list[Hit]
    model_id: str
    limit: int
    offset: int
    more: bool = False

    def __iter__(self) -> Iterator[Hit]:
        return iter(self.hits)

    def __len__(self) -> int:
        return len(self.hits)

    @property
    def products(self) -> list[Any]:
        return [hit.product for hit in self.hits]


@dataclass(frozen=True)
class LookGroup:
    """Matching products of one category; ``box`` is where a scene photo shows it, and
    ``confidence`` (0 to 1, shop the look only) how sure the region's category is: its share of
    the votes of the region's nearest products."""

    category: str
    score: float  # the best hit's cosine similarity
    hits: list[Hit]
    box: Box | None = None
    confidence: float | None = None


@dataclass(frozen=True)
class Look:
    """Groups best first; ``unmatched`` (shop the look) the categories the photo shows that no
    product offered under the filters matches."""

    groups: list[LookGroup]
    model_id: str
    unmatched: tuple[str, ...] = ()

    def __iter__(self) -> Iterator[LookGroup]:
        return iter(self.groups)
