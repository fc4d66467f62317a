"""The Python API for search: by text, by photo, and look-alikes of a product.

Each call takes an optional queryset of the store's product model: its filters, ``Q`` objects,
annotations and managers restrict the nearest-neighbour search inside the same SQL statement.
The store's named filters (``SHOP_CLIP["FILTERS"]``, tag filters) come as ``filters``.  Each
returns a typed ``Page`` of ``Hit`` objects, best first.  Query strings are the HTTP API's
business (``shop_clip.api``); nothing here sees one.

    from shop_clip import search
    page = search.similar(product, queryset=Product.objects.filter(in_stock=True), limit=8)
    for hit in page:
        hit.product, hit.score, hit.image_key
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import IO, Any

import numpy as np
from django.db import models
from PIL import Image

from . import arguments
from .catalog import get_catalog
from .conf import shop_clip_settings
from .encoders import get_encoder
from .errors import NotEmbedded, ProductNotFound, QueryError
from .fusion import fuse_rankings, hybrid_rankings
from .images import decode_size, decoded_photo, load_image, read_limited
from .keywords import KeywordSyntaxError, bounded_syntax, has_words, keyword_filter, keyword_search_enabled
from .knn import Neighbour, Restriction, nearest
from .models import EmbeddingSpace, ProductVector
from .query_vectors import clean_query, encode_query
from .read_db import on_read, reads
from .results import Hit, Mode, Page
from .scan_plan import plan_for_words
from .spaces import active_space
from .tag_rules import tag_filter_kwargs

__all__ = ["Hit", "Mode", "NotEmbedded", "Page", "ProductNotFound", "QueryError", "search", "search_by_image",
           "similar"]

Status = ProductVector.Status
MAX_OFFSET = 10_000  # deeper pages cost a KNN query of offset + limit rows
Filters = Mapping[str, Any]


@reads
def search(text: str, *, queryset: models.QuerySet | None = None, filters: Filters | None = None,
           limit: int | None = None, offset: int = 0, mode: Mode | str | None = None) -> Page:
    """Products that match ``text``, best first.

    ``mode``: ``vector`` ranks products by how close their images are to the words' meaning;
    ``keyword`` keeps the products whose text contains every word and ranks them the same way;
    ``hybrid`` (the default where keyword search is on) fuses the two rankings, so a product
    that both looks right and says so comes first, and a name or material no picture shows
    still finds its products.  A hit's score is always its cosine similarity.
    """
    mode = resolve_mode(mode)
    text = clean_query(arguments.text("text", text))
    words = keyword_text(text) if mode is not Mode.VECTOR else ""
    if mode is Mode.KEYWORD and not words.strip():
        raise no_words(text)

    def rank(space: EmbeddingSpace, restriction: Restriction, wanted: int) -> list[Neighbour]:
        vector = encode_query(text, space)
        if mode is Mode.VECTOR:
            return nearest(vector, space, wanted=wanted, restriction=restriction)
        if mode is Mode.KEYWORD:
            return nearest(vector, space, wanted=wanted, restriction=restriction.narrowed(**keyword_filter(words)),
                           plan=plan_for_words(words, restriction, space))
        rankings, then = hybrid_rankings(words, vector, space, wanted=wanted, restriction=restriction)
        return fuse_rankings(rankings, k=shop_clip_settings.KEYWORD_RRF_K, then=then)

    page = ranked_page(rank, queryset=queryset, filters=filters, limit=limit, offset=offset)
    # Asked only of an empty answer: stop words alone leave the parser nothing, and match nothing.
    if mode is Mode.KEYWORD and not page.hits and not has_words(words):
        raise no_words(text)
    return page


def no_words(text: str) -> QueryError:
    return QueryError(f"q has no word keyword search can look for ({text!r} is only operators or words too "
                      "common to index); add a word, or search by looks and words (mode=hybrid)")


@reads
def search_by_image(image: Image.Image | bytes, *, queryset: models.QuerySet | None = None,
                    filters: Filters | None = None, limit: int | None = None, offset: int = 0) -> Page:
    """Products that look like a photo (a decoded image, or its bytes: they pass the image door)."""
    def rank(space: EmbeddingSpace, restriction: Restriction, wanted: int) -> list[Neighbour]:
        photo = as_image(image, decode_size(get_encoder(model=space.model_ref).image_size))
        vector = get_encoder(model=space.model_ref).encode_images([photo])[0]
        return nearest(vector, space, wanted=wanted, restriction=restriction)

    return ranked_page(rank, queryset=queryset, filters=filters, limit=limit, offset=offset)


@reads
def similar(product: models.Model | Any, *, queryset: models.QuerySet | None = None, filters: Filters | None = None,
            limit: int | None = None, offset: int = 0) -> Page:
    """Look-alikes of ``product`` (an instance or its primary key), never the product itself."""
    product_id = arguments.product_key(product)

    def rank(space: EmbeddingSpace, restriction: Restriction, wanted: int) -> list[Neighbour]:
        return nearest(product_vectors(product_id, space), space, wanted=wanted, restriction=restriction)

    return ranked_page(rank, queryset=queryset, filters=filters, limit=limit, offset=offset, exclude=[product_id])


def resolve_mode(mode: Mode | str | None) -> Mode:
    """``mode`` as a ``Mode``: hybrid where keyword search is on and none is asked for."""
    if mode is None or mode == "":
        return Mode.HYBRID if keyword_search_enabled() else Mode.VECTOR
    try:
        mode = Mode(str(mode).strip().lower())
    except ValueError as exc:
        raise QueryError(f"mode must be one of {', '.join(m.value for m in Mode)}") from exc
    if mode is not Mode.VECTOR and not keyword_search_enabled():
        raise QueryError(f"mode={mode.value} needs keyword search, which this store has turned off; use mode=vector")
    return mode


def keyword_text(query: str) -> str:
    """``query`` as keyword search reads it (``keywords.bounded_syntax``); QueryError when its
    operators are more than PostgreSQL's query parser takes."""
    try:
        return bounded_syntax(query)
    except KeywordSyntaxError as exc:
        raise QueryError(str(exc)) from exc


def check_paging(limit: int | None, offset: int) -> tuple[int, int]:
    """``limit`` (default ``DEFAULT_LIMIT``) and ``offset``, within their bounds."""
    limit = shop_clip_settings.DEFAULT_LIMIT if limit is None else arguments.whole_number("limit", limit)
    offset = arguments.whole_number("offset", offset)
    if not 1 <= limit <= shop_clip_settings.MAX_LIMIT:
        raise QueryError(f"limit must be between 1 and {shop_clip_settings.MAX_LIMIT}")
    if not 0 <= offset <= MAX_OFFSET:
        raise QueryError(f"offset must be between 0 and {MAX_OFFSET}")
    return limit, offset


def restriction_for(space: EmbeddingSpace, *, queryset: models.QuerySet | None = None,
                    filters: Filters | None = None, exclude: Sequence[Any] = ()) -> Restriction:
    """The products an answer may show: the store's visible products of ``queryset``, narrowed by
    the store's named ``filters`` (lookups and computed ones) and tag filters, less ``exclude``."""
    filters = arguments.filter_values(filters)
    queryset = arguments.product_queryset(queryset)
    catalog = get_catalog()
    lookups = {**catalog.filter_kwargs(filters), **tag_filter_kwargs(filters, space)}
    return Restriction(lookups, queryset, tuple(exclude), tuple(catalog.filter_conditions(filters)))


def ranked_page(rank, *, queryset: models.QuerySet | None, filters: Filters | None, limit: int | None,
                offset: int, exclude: Sequence[Any] = ()) -> Page:
    """The page of ``rank(space, restriction, wanted)``, a ``Neighbour`` list of at least
    ``offset + limit`` products, best first.  One more is asked for, to know if a next page
    has any; a next page past ``MAX_OFFSET`` has none to show."""
    limit, offset = check_paging(limit, offset)
    space = active_space()
    restriction = restriction_for(space, queryset=queryset, filters=filters, exclude=exclude)
    ranked = rank(space, restriction, offset + limit + 1)
    more = len(ranked) > offset + limit and offset + limit <= MAX_OFFSET
    return Page(hits_for(ranked[offset:offset + limit]), space.model_id, limit, offset, more)


def hits_for(ranked: Sequence[Neighbour]) -> list[Hit]:
    """Hits for neighbours, in their order, with the products (families and the variants that
    matched) in one query."""
    return hits_each([ranked])[0]


def hits_each(ranked: Sequence[Sequence[Neighbour]]) -> list[list[Hit]]:
    """``hits_for`` each list of neighbours, the products of all of them in one query."""
    keys = {key for rows in ranked for row in rows for key in (row.group_id, row.product_id)}
    products = on_read(get_catalog().product_queryset()).in_bulk(keys)
    return [[Hit(products[row.group_id], 1.0 - row.distance, row.image_key, products[row.product_id])
             for row in rows if row.group_id in products and row.product_id in products] for rows in ranked]


def as_image(image: Image.Image | bytes | IO[bytes], target: int) -> Image.Image:
    """A decoded photo, checked as an upload's is: bytes, or an open file (an upload, a model's
    ``FieldFile``), pass the image door (limits, formats, orientation); a decoded one its shape's
    limits."""
    if isinstance(image, Image.Image):
        return decoded_photo(image, target)
    if hasattr(image, "read"):
        image = read_photo_file(image)
    if not isinstance(image, (bytes, bytearray, memoryview)):
        raise TypeError(f"image must be a PIL image, its bytes or an open file, not {type(image).__name__}")
    return load_image(bytes(image), target=target)


def read_photo_file(file: IO[bytes]) -> bytes:
    """The bytes of an open file from its start, or of a closed Django ``File`` (a model's
    ``FieldFile``), opened and closed again here."""
    opened = bool(getattr(file, "closed", False)) and hasattr(file, "open")
    if opened:
        file.open("rb")
    try:
        if hasattr(file, "seek"):
            file.seek(0)
        return read_limited(file)
    finally:
        if opened:
            file.close()


def product_vectors(product_id: Any, space: EmbeddingSpace) -> np.ndarray:
    """The embedded image vectors of one product (a variant without images of its own: its
    family's); NotEmbedded if it has none yet."""
    vectors = on_read(ProductVector.objects)
    rows = list(vectors.filter(product_id=product_id, space=space, embedding__isnull=False)
                .values_list("embedding", flat=True))
    catalog = get_catalog()
    family = catalog.group_of([product_id]).get(product_id, product_id)
    if not rows and family != product_id and not vectors.filter(product_id=product_id).exists():
        return product_vectors(family, space)
    if not rows and catalog.group_field:  # a parent with no photo of its own: its shown variants' photos
        variants = catalog.products().filter(**{catalog.group_field: product_id})
        if catalog.hides_products:  # a hidden variant's photo must not decide what its family looks like
            variants = catalog.visible(variants)
        rows = list(vectors.filter(product_id__in=variants.values("pk"), space=space,
                                   embedding__isnull=False).values_list("embedding", flat=True))
    if not rows:
        states = set(vectors.filter(product_id=product_id, space=space).values_list("status", flat=True))
        if Status.FAILED in states:
            # The stored reason can name storage paths: staff read it in the admin and in
            # `shop_clip_status --failed`, shoppers only that there is none.
            raise NotEmbedded(f"product {product_id} has no vector: its image could not be embedded")
        if states:
            raise NotEmbedded(f"product {product_id} is not embedded yet (pending); try again shortly")
        model = catalog.product_model
        if not on_read(model._default_manager).filter(pk=product_id).exists():
            raise ProductNotFound(f"no {model._meta.verbose_name} with key {product_id!r}")
        members = [product_id]
        if catalog.group_field:
            members += catalog.visible(catalog.products().filter(**{catalog.group_field: product_id})).values_list(
                "pk", flat=True)
        if not catalog.image_refs(members):  # indexing cannot help: staff add a photo
            raise NotEmbedded(f"product {product_id} has no photo: look-alikes and looks compare photos")
        raise NotEmbedded(f"product {product_id} is not indexed: run `python manage.py shop_clip_index --missing`")
    return np.asarray(rows, dtype=np.float32)

