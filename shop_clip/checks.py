"""System checks: misconfiguration is reported at start, with the fix."""

from __future__ import annotations

import difflib

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections


@register()
def check_catalog(app_configs=None, **kwargs):
    from .catalog import get_catalog

    try:
        catalog = get_catalog()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="shop_clip.E003",
                      hint='Set SHOP_CLIP_PRODUCT_MODEL = "app_label.Product" to an installed model.')]
    return [Error(problem, id="shop_clip.E003",
                  hint="Fix the field names in settings.SHOP_CLIP (IMAGE_FIELD, TEXT_FIELDS, CATEGORY_FIELD, FILTERS).")
            for problem in catalog.check()]


@register()
def check_read_database(app_configs=None, **kwargs):
    from .read_db import configured_alias

    try:
        configured_alias()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="shop_clip.E008", hint="Add the replica to DATABASES, or set "
                      "SHOP_CLIP['READ_DATABASE'] = None to read the primary.")]
    return []


@register()
def check_tagging(app_configs=None, **kwargs):
    """TAGS, MODERATION and TAG_FILTERS, read as search and the workers will read them."""
    from .conf import ShopClipConfigurationError
    from .tag_rules import hidden_flag_kinds, moderation, tag_filter_kwargs, tag_groups

    try:
        tag_groups()
        moderation()
        hidden_flag_kinds()
        tag_filter_kwargs({}, space=None)  # names only: no parameter, no query
    except ShopClipConfigurationError as exc:
        return [Error(str(exc), id="shop_clip.E006", hint="Fix SHOP_CLIP['TAGS'], ['MODERATION'] or ['TAG_FILTERS'].")]
    return []


@register()
def check_broker(app_configs=None, **kwargs):
    if not getattr(settings, "CELERY_BROKER_URL", None):
        return [Error("CELERY_BROKER_URL is not set, so product changes cannot reach the workers.",
                      id="shop_clip.E004",
                      hint="Set CELERY_BROKER_URL (e.g. redis://localhost:6379/0) and load it in your "
                           "Celery app with config_from_object('django.conf:settings', namespace='CELERY').")]
    return []


@register(Tags.database)
def check_pgvector(app_configs=None, databases=None, **kwargs):
    errors = []
    for alias in databases or []:
        connection = connections[alias]
        if connection.vendor != "postgresql":
            errors.append(Error(f"database {alias!r} is {connection.vendor}; shop-clip needs PostgreSQL with pgvector.",
                                id="shop_clip.E001", hint="Point DATABASES at PostgreSQL 13+ with pgvector 0.8+."))
            continue
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'")
                row = cursor.fetchone()
        except DatabaseError as exc:
            errors.append(Error(f"could not query database {alias!r}: {exc}", id="shop_clip.E001"))
            continue
        if row is None:
            errors.append(Error("the pgvector extension is not installed on the PostgreSQL server.",
                                id="shop_clip.E001",
                                hint="Install pgvector 0.8+ (e.g. the pgvector/pgvector Docker image, or "
                                     "apt install postgresql-NN-pgvector), then run migrate."))
        elif tuple(int(p) for p in row[0].split(".")[:2]) < (0, 8):
            errors.append(Error(f"pgvector {row[0]} is too old: iterative index scans need 0.8+.",
                                id="shop_clip.E001", hint="Upgrade pgvector, then ALTER EXTENSION vector UPDATE."))
    return errors


@register(Tags.database)
def check_encoder(app_configs=None, databases=None, **kwargs):
    """Loads the configured encoder (so runs only with --database / migrate)."""
    if not databases:
        return []
    from .conf import shop_clip_settings
    from .encoders import EncoderUnavailable, get_encoder
    from .models import EmbeddingSpace

    try:
        encoder = get_encoder()
    except EncoderUnavailable as exc:
        return [Error(str(exc), id="shop_clip.E005", hint="Fix SHOP_CLIP['ENCODER']['MODEL'].")]
    errors = []
    declared = shop_clip_settings.ENCODER.get("DIM")
    if declared and int(declared) != encoder.dim:
        errors.append(Error(f"SHOP_CLIP['ENCODER']['DIM'] is {declared} but the model gives {encoder.dim}-d vectors.",
                            id="shop_clip.E002", hint="Correct DIM, or point MODEL at the model you meant."))
    try:
        stored = EmbeddingSpace.objects.filter(model_id=encoder.model_id).values_list("dim", flat=True).first()
        if stored is not None and stored != encoder.dim:
            errors.append(Error(
                f"stored vectors of {encoder.model_id} are {stored}-d but the encoder gives {encoder.dim}-d.",
                id="shop_clip.E002",
                hint="Give the new model its own MODEL_ID, then `shop_clip_index --all` to index it "
                     "beside the old one."))
        errors.extend(_missing_indexes())
        errors.extend(_other_index_kinds())
    except DatabaseError:
        pass  # tables not migrated yet: migrate is about to create them
    return errors


def _missing_indexes() -> list[Warning]:
    """W002: a space whose backfill is done but has no HNSW index.  A space still being written
    has none on purpose: it is built in bulk when the backlog drains.  W004: one with its HNSW
    index but no products index (its build was killed)."""
    from django.db.models import Exists, OuterRef

    from .hnsw import has_products_index
    from .models import EmbeddingSpace, ProductVector
    from .space_index import space_has_index

    vectors = ProductVector.objects.filter(space=OuterRef("pk"))
    spaces = EmbeddingSpace.objects.filter(Exists(vectors)).exclude(
        Exists(vectors.filter(status=ProductVector.Status.PENDING)))
    warnings = []
    for space in spaces:
        if not space_has_index(space):
            warnings.append(Warning(
                f"the embedding space {space.model_id} has no HNSW index"
                f"{'' if space.activated_at is None else ' and search reads it'}: search scans the table.",
                id="shop_clip.W002",
                hint="Run `python manage.py shop_clip_index`, which builds it once nothing is pending "
                     "(a worker builds it when the backlog drains); a retired model's space can be "
                     "deleted in the admin instead."))
        elif not has_products_index(space.pk):
            warnings.append(Warning(
                f"the embedding space {space.model_id} has no products index: exact search of a filter "
                "reads every space's rows of its products.", id="shop_clip.W004",
                hint="Run `python manage.py shop_clip_index`, which builds it (a worker builds it after "
                     "its next claim)."))
    return warnings


def _other_index_kinds() -> list[Warning]:
    """W003: search walks a kind of index for the active space other than ``VECTOR_INDEX``'s."""
    from .conf import ShopClipConfigurationError
    from .space_index import configured_index_kind
    from .spaces import latest_active_space

    try:
        kind = configured_index_kind()
    except ShopClipConfigurationError:
        return []  # E009
    space = latest_active_space()
    if space is None or space.index_kind == kind:
        return []
    return [Warning(f"search walks a {space.index_kind} index for {space.model_id}, but "
                    f"SHOP_CLIP['VECTOR_INDEX'] is {kind!r}.", id="shop_clip.W003",
                    hint="Run `python manage.py shop_clip_index --switch-index`: it builds the other index "
                         "beside the first while searches go on, then switches to it.")]


@register()
def check_vector_index(app_configs=None, **kwargs):
    from .conf import ShopClipConfigurationError, shop_clip_settings
    from .space_index import configured_index_kind

    try:
        configured_index_kind()
    except ShopClipConfigurationError as exc:
        return [Error(str(exc), id="shop_clip.E009", hint='Set SHOP_CLIP["VECTOR_INDEX"] to "halfvec" or "binary".')]
    candidates = shop_clip_settings.BINARY_INDEX.get("CANDIDATES")
    if not isinstance(candidates, int) or candidates < 1:
        return [Error(f"SHOP_CLIP['BINARY_INDEX']['CANDIDATES'] = {candidates!r} is not a count of rows",
                      id="shop_clip.E009", hint="Set it to the rows re-ranked per query, 400 by default.")]
    return []


@register(Tags.database)
def check_keywords(app_configs=None, databases=None, **kwargs):
    """KEYWORD_CONFIG names a text search configuration of the database (else every save logs an error)."""
    if not databases or "default" not in databases:
        return []
    from .keywords import check_config

    try:
        problem = check_config()
    except DatabaseError:
        return []  # the database is reported by E001
    return [Error(problem, id="shop_clip.E007", hint="Fix SHOP_CLIP['KEYWORD_CONFIG'], or set "
                  "SHOP_CLIP['KEYWORD_SEARCH'] = False.")] if problem else []


@register()
def check_look_categories(app_configs=None, **kwargs):
    """E010: ``LOOK_CATEGORIES`` is a mapping of a category to a list of categories (a string
    where a list belongs would be read letter by letter)."""
    from .conf import shop_clip_settings

    chosen = shop_clip_settings.LOOK_CATEGORIES
    if chosen is None:
        return []
    hint = 'Write it as {"t-shirts": ["trousers", "sneakers"], ...}: each category the ones that go with it.'
    if not isinstance(chosen, dict):
        return [Error(f"SHOP_CLIP['LOOK_CATEGORIES'] is a {type(chosen).__name__}, not a mapping.",
                      id="shop_clip.E010", hint=hint)]
    wrong = [key for key, others in chosen.items()
             if not isinstance(key, str) or not isinstance(others, list | tuple | set | frozenset)
             or not all(isinstance(other, str) for other in others)]
    return [Error(f"SHOP_CLIP['LOOK_CATEGORIES'][{key!r}] is not a list of category names.", id="shop_clip.E010",
                  hint=hint) for key in wrong]


@register(Tags.database)
def check_look_category_names(app_configs=None, databases=None, **kwargs):
    """W005: ``LOOK_CATEGORIES`` names a category the catalog does not have (complete the look
    would never offer it, and its own entry would never be read)."""
    from .catalog import get_catalog
    from .conf import shop_clip_settings

    chosen = shop_clip_settings.LOOK_CATEGORIES
    if not databases or not isinstance(chosen, dict) or check_look_categories():
        return []
    try:
        catalog = get_catalog()
        known = set(catalog.category_choices()) if hasattr(catalog, "category_choices") else None
    except (ImproperlyConfigured, DatabaseError):
        return []  # E003 and E001 say why
    if not known:
        return []  # no categories yet: a new store fills them in later
    named = dict.fromkeys([*chosen, *(other for others in chosen.values() for other in others)])
    return [Warning(f"SHOP_CLIP['LOOK_CATEGORIES'] names {name!r}, which is none of the store's categories: "
                    "complete the look leaves it out.", id="shop_clip.W005", hint=_nearest_names(name, known))
            for name in named if name not in known]


def _nearest_names(name: str, known: set[str]) -> str:
    """What ``name`` may have meant: the categories whose last part is it (a full slug's), which
    differ only in case, or which are spelt nearly so; else a few of the store's."""
    like = sorted(value for value in known
                  if value.rsplit("/", 1)[-1] == name or value.casefold() == name.casefold())
    like = like or sorted(difflib.get_close_matches(name, known, n=3, cutoff=0.75))
    if like:
        return f"Did you mean {' or '.join(repr(value) for value in like)}?"
    shown = sorted(known)
    return f"The store's categories include {', '.join(repr(value) for value in shown[:8])}" + (
        f" and {len(shown) - 8} more." if len(shown) > 8 else ".")
