"""shop-clip settings, read in one place (as DRF's ``api_settings``).

A store configures shop-clip with two settings::

    SHOP_CLIP_PRODUCT_MODEL = "catalog.Product"     # swappable, like AUTH_USER_MODEL
    SHOP_CLIP = {"IMAGE_FIELD": "image", "TEXT_FIELDS": ["title", "description"], ...}

``shop_clip_settings.X`` returns the store's value or the default below; the cache is dropped on
``setting_changed`` so ``override_settings`` works in tests, and every other cache built from these
settings registers its own reset with ``on_settings_change``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

DEFAULTS: dict[str, Any] = {
    # How shop-clip sees the store's product (see catalog.py).
    "CATALOG": "shop_clip.catalog.SettingsCatalog",
    "IMAGE_FIELD": "image",          # a File/ImageField on the product, or None; not read when IMAGES is set
    # or a related image model: {"MODEL": "app.ProductImage", "PRODUCT_FIELD": "product", "IMAGE_FIELD": "file"}
    "IMAGES": None,
    "TEXT_FIELDS": ["title", "description"],
    "CATEGORY_FIELD": "category",    # FK, M2M or plain field; None if the store has none
    "CATEGORY_SLUG_FIELD": "slug",   # field of the related category model matched by ?category=
    # query parameter -> ORM lookup on the product, or a dotted path to a callable (value) -> Q
    "FILTERS": {
        "category": "category__slug",
        "min_price": "price__gte",
        "max_price": "price__lte",
        "in_stock": "in_stock",
    },
    # The products shoppers may see: None (all), ORM lookups ({"is_public": True}), or a dotted path to
    # a callable (queryset) -> queryset. Every answer is restricted to them.
    "VISIBLE": None,
    # The FK from a variant to its parent product ("parent"): answers show one entry per family.
    "VARIANT_PARENT_FIELD": None,
    "EVAL_ATTRIBUTES_FIELD": "attributes",
    # The template the storefront pages extend: it defines `content` (and may define `title`).
    "BASE_TEMPLATE": "shop_clip/base.html",  # ground-truth labels used by shop_clip_eval
    "PRODUCT_SERIALIZER": "shop_clip.api.serializers.DefaultProductSerializer",
    # The encoder, configured like Django's cache framework.
    "ENCODER": {
        "BACKEND": "shop_clip.encoders.sentence_transformers.SentenceTransformerEncoder",
        "MODEL": "clip-ViT-B-32",    # a hub name, a local directory, or "shop-clip-mini" (bundled)
        "DEVICE": "auto",            # "auto" = CUDA where present (fp16 there), else CPU
        "BATCH_SIZE": 32,
    },
    # The pipeline.
    "QUEUE": "shop_clip",
    "CLAIM_BATCH_SIZE": 128,         # rows a worker claims per transaction (several encoder batches)
    "MAX_BATCHES_PER_TASK": 50,      # then the task re-enqueues itself, so workers share work
    # index_pending tasks a backlog is split into: a task that finds more than one claim pending sends
    # helpers, up to this many tasks in all, so every worker child gets a share. Set it to the
    # children of all indexing workers together (4 for one GPU worker with `-c 4`); with fewer
    # children the extra tasks simply wait their turn.
    "INDEXING_TASKS": 4,
    # Claims one worker process keeps in flight: with 2, one claim's reading and vector writes
    # (PostgreSQL's HNSW inserts) overlap the other's encoding; the model runs one batch at a time.
    "CLAIMS_IN_FLIGHT": 1,
    "READER_THREADS": 4,             # threads that read, decode and preprocess the next batches
    "MAX_ATTEMPTS": 5,               # transient failures before a row is marked failed
    "ENQUEUE_ON_SAVE": True,
    # The one door for images (images.py).
    "MAX_IMAGE_BYTES": 20 * 1024 * 1024,
    "MAX_IMAGE_PIXELS": 40_000_000,
    "MAX_UPLOAD_BYTES": 10 * 1024 * 1024,
    "MIN_IMAGE_SIDE": 16,            # px; a thinner image has nothing a model can see
    "MAX_ASPECT_RATIO": 10,          # long side : short side; a strip scaled to the model's side would be huge
    # Formats parsed at all: any other is refused before a parser reads a byte (TIFF, BMP: add them here).
    "IMAGE_FORMATS": ("JPEG", "MPO", "PNG", "WEBP", "GIF"),
    # Search.
    "MAX_QUERY_LENGTH": 200,
    "MAX_LIMIT": 100,
    "DEFAULT_LIMIT": 20,
    # Enough candidates per index scan for the recall target at 1M products (docs/decisions/hnsw-settings.md).
    "HNSW_EF_SEARCH": 250,
    # "strict_order": pgvector's iterative scan; "relaxed_order" (pages may repeat a product); "off":
    # the plain scan, selective filters included (pages come back short: for comparison only).
    "HNSW_ITERATIVE_SCAN": "strict_order",
    "HNSW_MAX_SCAN_TUPLES": 40_000,
    # A space's index is built in bulk once its backfill is drained (hnsw.build_index): the graph
    # should fit in this memory (about 2 GB per million 512-d vectors), and the build runs this
    # many parallel maintenance workers besides the worker that starts it.
    "HNSW_BUILD_MEMORY": "1GB",
    "HNSW_BUILD_WORKERS": 2,
    # The index a new space gets: "halfvec" (its vectors), or "binary" (the sign bits of each vector
    # minus the space's mean: about 5 times smaller, search re-ranks CANDIDATES of its nearest by
    # the halfvec distance; docs/decisions/binary-quantised-index.md).  An existing space switches
    # with `shop_clip_index --switch-index`, searches going on meanwhile.
    "VECTOR_INDEX": "halfvec",
    # A binary space's filtered scans need CANDIDATES rows that pass: filters leaving up to
    # EXACT_SEARCH_MAX_ROWS products are searched exactly instead (4-5x faster at 1-2% of 1M).
    "BINARY_INDEX": {"M": 8, "EF_CONSTRUCTION": 200, "CANDIDATES": 400, "EXACT_SEARCH_MAX_ROWS": 25_000},
    # Filters leaving at most this share are searched exactly, within the bounds below
    # (docs/decisions/exact-or-index.md).  Above about 5,000 matches the index is faster and good
    # enough at 1M products (docs/decisions/filtered-search-at-1m.md).
    "EXACT_SEARCH_SELECTIVITY": 0.05,
    "EXACT_SEARCH_MAX_ROWS": 5_000,
    # ...and at most this many, whatever their share (small catalogs: docs/decisions/exact-or-index.md).
    "EXACT_SEARCH_MIN_ROWS": 5_000,
    # max_parallel_workers_per_gather for exact search (None: the server's): parallel workers cost a
    # few thousand matches more than they save (docs/decisions/filtered-search-at-1m.md).
    "EXACT_SEARCH_WORKERS": 0,
    # How long the query cache (QUERY_CACHE_ALIAS) remembers a restriction's scan plan (its count
    # costs up to 17 ms at 1M products: docs/decisions/filtered-search-at-1m.md), and the products
    # of words few have (their posting lists are most of an exact search; any document written
    # forgets them); 0: neither.  A short page from the index counts again.
    "PLAN_CACHE_SECONDS": 300,
    # Hybrid text search (keywords.py): products containing all the query's words, nearest first,
    # are fused with the plain nearest products (reciprocal rank fusion), so names, materials and
    # brands a picture cannot show still count.  ``?mode=vector|keyword|hybrid`` picks one per query.
    "KEYWORD_SEARCH": True,
    "KEYWORD_CONFIG": "english",     # PostgreSQL text search configuration ("simple": no stemming)
    # The keyword ranking's weight in the fusion (pictures: 1), a little above 1: docs/decisions/hybrid-search.md.
    "KEYWORD_WEIGHT": 1.2,
    "KEYWORD_DEPTH": 50,             # products each ranking contributes to the fusion; deeper pages follow the pictures
    # Words in at most this many products rank all of them, exactly; others only among KEYWORD_CANDIDATES (fusion.py).
    "KEYWORD_EXACT_MAX_ROWS": 1000,
    "KEYWORD_CANDIDATES": 100,
    "KEYWORD_RRF_K": 60,             # reciprocal rank fusion's constant: 1 / (k + rank)
    "KEYWORD_MAX_OPERATORS": 16,     # -word, or, "phrase" in one query; more is a 400
    # Shop the look / complete the look (look.py).
    "LOOK_CATEGORIES": None,         # {"t-shirt": ["trousers", "sneaker"], ...}; unnamed: every other category
    "LOOK_DEFAULT_CATEGORIES": 4,    # groups in an answer
    "LOOK_DEFAULT_PER_CATEGORY": 3,  # products in a group
    # Complete the look is cached per product and parameters (docs/decisions/complete-the-look.md).
    "LOOK_CACHE_TIMEOUT": 10 * 60,
    "LOOK_FLAT_LAYS": True,          # segment products laid out on a plain backdrop (else windows only)
    "LOOK_WINDOW_SCALES": (1.0, 0.5, 0.34),  # window sides, as shares of a scene photo's shorter side
    "LOOK_SCORE_MARGIN": 0.15,       # a region scoring this far below the best one is not a product
    "LOOK_MAX_OVERLAP": 0.4,         # a region overlapping a better one this much shows the same thing
    "LOOK_DECODE_SCALE": 3,          # scene photos are decoded this many times larger than product photos
    # A region's category is voted by its nearest products (each weighted by exp((score - best) /
    # LOOK_VOTE_TEMPERATURE)); its confidence is the winner's share of the votes.  A region below
    # LOOK_MIN_CONFIDENCE or LOOK_MIN_SCORE matches nothing well and is left out (issue #16).
    # Chosen for shop-clip-mini's region tower, whose cosines run lower than a catalog tower's;
    # another model's are worth checking with shop_clip_eval --scenes.
    "LOOK_VOTE_NEIGHBOURS": 10,
    "LOOK_VOTE_TEMPERATURE": 0.02,
    "LOOK_MIN_CONFIDENCE": 0.3,
    "LOOK_MIN_SCORE": 0.4,
    # A busy photo's largest blobs looked at in two halves too (touching products are one blob;
    # docs/decisions/shop-the-look-scenes.md): each costs two crops more.  0: never.
    "LOOK_SPLIT_BLOBS": 1,
    # The DATABASES alias shoppers' answers are read from (a streaming replica); None: the primary.
    # A product saved a moment ago may not be searchable there yet (docs/decisions/read-replica.md).
    "READ_DATABASE": None,
    "QUERY_CACHE_TIMEOUT": 60 * 60 * 24,
    "QUERY_CACHE_ALIAS": "default",
    # Zero-shot tags and moderation flags from the stored image vectors (tagging.py); empty: off.
    # Group name -> {"labels": [...] or {label: prompt}, "prompt": "a photo of a {label} product",
    # "min_score": 0.5}; a plain list of labels takes those defaults.  A product gets the label
    # whose prompt its images match best, if its probability (softmax over the group) >= min_score.
    "TAGS": {},
    # {"FLAGS": {label: prompt}, "SAFE": [prompt, ...], "MIN_SCORE": 0.6, "CATEGORY_MISMATCH": True,
    #  "CATEGORY_PROMPT": "a photo of a {label}"}: a flag label whose probability among FLAGS+SAFE
    # reaches MIN_SCORE is raised; CATEGORY_MISMATCH flags a photo another category wins;
    # "HIDE_FLAGGED": ["content"] keeps products with open flags of those kinds from shoppers.
    "MODERATION": {},
    # TAGS groups shoppers can filter search by: ["colour"] makes ?colour=red keep products tagged red.
    "TAG_FILTERS": [],
}

# Values that are dotted paths to import lazily.
IMPORT_STRINGS = {"CATALOG", "PRODUCT_SERIALIZER"}


class ShopClipConfigurationError(ImproperlyConfigured):
    """A shop-clip setting is wrong; the message names the setting and the fix."""


MERGED = ("ENCODER", "BINARY_INDEX")  # dict settings read over their defaults


class ShopClipSettings:
    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    @property
    def user_settings(self) -> dict[str, Any]:
        value = getattr(settings, "SHOP_CLIP", {})
        if not isinstance(value, dict):
            raise ShopClipConfigurationError("settings.SHOP_CLIP must be a dict")
        return value

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Invalid shop-clip setting: {name!r}")
        if name in self._cache:
            return self._cache[name]
        value = self.user_settings.get(name, DEFAULTS[name])
        if name in MERGED:  # a store names only the entries it changes
            value = {**DEFAULTS[name], **value}
        if name in IMPORT_STRINGS and isinstance(value, str):
            value = import_setting(value, name)
        self._cache[name] = value
        return value

    def reload(self) -> None:
        self._cache.clear()


def import_setting(path: str, name: str) -> Any:
    from django.utils.module_loading import import_string

    try:
        return import_string(path)
    except ImportError as exc:
        raise ShopClipConfigurationError(
            f"SHOP_CLIP[{name!r}] = {path!r} could not be imported: {exc}"
        ) from exc


def product_model_label() -> str:
    """The swappable ``SHOP_CLIP_PRODUCT_MODEL`` ("app_label.ModelName")."""
    label = getattr(settings, "SHOP_CLIP_PRODUCT_MODEL", None)
    if not label:
        raise ShopClipConfigurationError(
            'Set SHOP_CLIP_PRODUCT_MODEL = "app_label.Product" to your product model.'
        )
    return label


def get_product_model():
    """The store's product model class."""
    from django.apps import apps

    label = product_model_label()
    try:
        return apps.get_model(label, require_ready=False)
    except (LookupError, ValueError) as exc:
        raise ShopClipConfigurationError(
            f"SHOP_CLIP_PRODUCT_MODEL refers to {label!r}, which is not an installed model: {exc}"
        ) from exc


shop_clip_settings = ShopClipSettings()

# The Django settings shop-clip reads: a change to either drops every cache built from them.
WATCHED_SETTINGS = ("SHOP_CLIP", "SHOP_CLIP_PRODUCT_MODEL")


def on_settings_change(reset: Callable[[], None]) -> Callable[[], None]:
    """Call ``reset`` whenever ``SHOP_CLIP`` or ``SHOP_CLIP_PRODUCT_MODEL`` changes (``override_settings``
    in tests), so a module's cache resets itself; returns ``reset``, so it also decorates."""

    def receiver(*, setting: str, **kwargs: Any) -> None:
        if setting in WATCHED_SETTINGS:
            reset()

    setting_changed.connect(receiver, weak=False)
    return reset


def positive_setting(name: str) -> int:
    """A setting that counts threads, claims, tasks or rows, as a whole number of at least 1."""
    return max(1, int(getattr(shop_clip_settings, name)))


on_settings_change(shop_clip_settings.reload)

