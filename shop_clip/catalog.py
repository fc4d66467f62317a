"""How shop-clip sees a store's product: images, text, category and filters.

This is the only module that knows the host store's models.  ``SettingsCatalog`` reads the
``SHOP_CLIP`` settings and covers the common shapes (an image field on the product, or a related
image model with several rows per product; a category FK, M2M or plain field; integer or UUID
keys).  A store with something unusual subclasses it and names the subclass in
``SHOP_CLIP["CATALOG"]``.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import FieldDoesNotExist, FieldError, ValidationError
from django.db import models

from .conf import ShopClipConfigurationError, get_product_model, import_setting, on_settings_change, shop_clip_settings
from .read_db import on_read

PRODUCT_IMAGE_KEY = "main"


@dataclass(frozen=True)
class ImageRef:
    """One image of one product: ``key`` is stable per image (``main`` or ``img:<pk>``)."""

    product_id: Any
    key: str
    file: Any  # a FieldFile


class FilterError(ValueError):
    """A search filter value is invalid; the message is for the shopper's client."""


class UnknownFilter(FilterError):
    """A filter name the store has no filter of: a caller's typo, not a shopper's value."""


class CatalogBase:
    """How shop-clip sees a store's products: the one place that knows the store's models.

    Its methods are the whole extension surface.  A store whose shape the settings cannot
    describe subclasses ``SettingsCatalog`` (or this class) and names it in
    ``SHOP_CLIP["CATALOG"]``; everything else in shop-clip goes through these methods.
    """

    product_model: type[models.Model]
    text_fields: list[str] = []  # the columns ``text`` reads; none: keyword search is off
    category_field: str | None = None
    image_model: type[models.Model] | None = None  # a related image model: several images a product
    # The FK from a variant to its parent: answers show one entry per family (the parent), a filter
    # matches a family when any member does, and a product's look-alikes leave its family out.
    group_field: str | None = None

    def products(self) -> models.QuerySet:
        """Every product of the store (its default manager)."""
        return self.product_model._default_manager.all()

    def visible(self, queryset: models.QuerySet) -> models.QuerySet:
        """``queryset`` narrowed to the products shoppers may see; every answer is restricted by it.
        The default hides nothing."""
        return queryset

    def category_family(self, values: Iterable[str]) -> set[str]:
        """``values`` and the categories of the same kind: a catalog with a tree of categories adds
        their ancestors and subcategories (complete the look offers none of them).  Flat: ``values``."""
        return set(values)

    def category_kind(self, value: str) -> str:
        """What kind of product a category holds, for shop the look's votes: categories of one kind
        (the same category under two trees) pool them.  Flat: the category itself."""
        return value

    @property
    def hides_products(self) -> bool:
        """Whether ``visible`` hides anything (else answers need no visibility subquery)."""
        return type(self).visible is not CatalogBase.visible

    def product_queryset(self) -> models.QuerySet:
        """Products as answers show them (related rows fetched with them)."""
        return self.products()

    def image_refs(self, product_ids: Iterable[Any]) -> list[ImageRef]:
        """Every current image of the given products."""
        raise NotImplementedError

    def text(self, product: models.Model) -> str:
        """A product's words: its keyword document, and what fine-tuning and evaluation read."""
        raise NotImplementedError

    def category_values(self, product: models.Model) -> list[str]:
        """The product's category identifiers, as ``?category=`` names them."""
        return []

    def filter_kwargs(self, params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
        """ORM lookups on the product from the store's named filters; FilterError on a bad value."""
        return {}

    def filter_conditions(self, params: Mapping[str, Any]) -> list[models.Q]:
        """``Q`` conditions on the product from the store's computed filters (availability over
        stock records, "on sale"); FilterError naming the parameter when one fails."""
        return []

    def filter_names(self) -> frozenset[str] | None:
        """The names ``filter_kwargs`` and ``filter_conditions`` read, so that a name neither reads
        (a typo: ``colur``) is refused, not ignored; None where the catalog does not say, and no
        name is refused."""
        return None

    def group_of(self, product_ids: Iterable[Any]) -> dict[Any, Any]:
        """Each product's family: its parent's key, or its own (every product its own without variants)."""
        ids = list(product_ids)
        if not self.group_field:
            return {pk: pk for pk in ids}
        rows = on_read(self.products()).filter(pk__in=ids).values_list("pk", f"{self.group_field}_id")
        return {pk: parent if parent is not None else pk for pk, parent in rows}

    def check(self) -> list[str]:
        """Configuration problems, for the system checks."""
        return []

    def statement_key(self) -> Hashable | None:
        """What the SQL of ``products()`` and ``visible()`` depends on beside the settings, so that
        statements compiled with them may be remembered (``statements``): ``()`` where they read
        nothing else; None where they may read the clock or the request (a current tenant), and
        every statement is compiled afresh.  Here: ``()`` only where neither is overridden and the
        default manager's ``get_queryset`` is Django's own."""
        manager = type(self.product_model._default_manager)
        settled = manager.get_queryset is models.Manager.get_queryset and type(self).products is CatalogBase.products
        return () if settled and self._visible_reads_only_settings() else None

    def _visible_reads_only_settings(self) -> bool:
        return type(self).visible is CatalogBase.visible


class SettingsCatalog(CatalogBase):
    """The catalog described by settings."""

    def __init__(self) -> None:
        self.product_model = get_product_model()
        self.image_field: str | None = shop_clip_settings.IMAGE_FIELD
        images = shop_clip_settings.IMAGES
        self.image_model = None
        if images:
            from django.apps import apps

            try:
                self.image_model = apps.get_model(images["MODEL"])
            except (LookupError, KeyError, ValueError) as exc:
                raise ShopClipConfigurationError(
                    f"SHOP_CLIP['IMAGES'] must be {{'MODEL': 'app.Model', 'PRODUCT_FIELD': ..., "
                    f"'IMAGE_FIELD': ...}}: {exc}"
                ) from exc
            self.image_product_field = images.get("PRODUCT_FIELD", "product")
            self.image_file_field = images.get("IMAGE_FIELD", "image")
        if images:  # the product's own image field is not read beside a related image model
            self.image_field = None
        self.text_fields: list[str] = list(shop_clip_settings.TEXT_FIELDS)
        self.category_field: str | None = shop_clip_settings.CATEGORY_FIELD
        self.group_field = shop_clip_settings.VARIANT_PARENT_FIELD
        self.visible_setting = shop_clip_settings.VISIBLE
        # Lookups by name; computed filters (callables, or dotted paths to them) apart.
        self.filters: dict[str, str] = {}
        self.filter_callables: dict[str, Any] = {}
        for param, lookup in shop_clip_settings.FILTERS.items():
            if callable(lookup) or "." in lookup:  # an ORM lookup never holds a dot
                self.filter_callables[param] = (import_setting(lookup, f"FILTERS'][{param!r}")
                                                if isinstance(lookup, str) else lookup)
            else:
                self.filters[param] = lookup

    # -- visibility -----------------------------------------------------------------------------
    def visible(self, queryset: models.QuerySet) -> models.QuerySet:
        """``SHOP_CLIP["VISIBLE"]``: lookups, or a callable narrowing the queryset."""
        rule = self.visible_setting
        if not rule:
            return queryset
        if isinstance(rule, Mapping):
            return queryset.filter(**rule)
        return (import_setting(rule, "VISIBLE") if isinstance(rule, str) else rule)(queryset)

    @property
    def hides_products(self) -> bool:
        return bool(self.visible_setting) or type(self).visible is not SettingsCatalog.visible

    def _visible_reads_only_settings(self) -> bool:
        return type(self).visible is SettingsCatalog.visible and self._visible_rule_is_lookups()

    def _visible_rule_is_lookups(self) -> bool:
        """``VISIBLE`` is lookups (or unset): a callable may read anything."""
        return not self.visible_setting or isinstance(self.visible_setting, Mapping)

    # -- images -----------------------------------------------------------------------------
    def image_refs(self, product_ids: Iterable[Any]) -> list[ImageRef]:
        """Every current image of the given products (one query per image source)."""
        ids = list(product_ids)
        refs: list[ImageRef] = []
        if self.image_field:
            rows = on_read(self.product_model._default_manager).filter(pk__in=ids).only("pk", self.image_field)
            for product in rows:
                file = getattr(product, self.image_field)
                if file:
                    refs.append(ImageRef(product.pk, PRODUCT_IMAGE_KEY, file))
        if self.image_model is not None:
            rows = on_read(self.image_model._default_manager).filter(**{f"{self.image_product_field}__in": ids})
            for image in rows:
                file = getattr(image, self.image_file_field)
                if file:
                    product_id = getattr(image, f"{self.image_product_field}_id")
                    refs.append(ImageRef(product_id, self.image_key(image), file))
        return refs

    def image_key(self, image: models.Model) -> str:
        return f"img:{image.pk}"

    def product_id_of_image(self, image: models.Model) -> Any:
        return getattr(image, f"{self.image_product_field}_id")

    # -- text and category ---------------------------------------------------------------------
    def text(self, product: models.Model) -> str:
        return " ".join(str(getattr(product, f) or "") for f in self.text_fields).strip()

    def category_values(self, product: models.Model) -> list[str]:
        """The product's category identifiers (slugs where the category is a model)."""
        if not self.category_field:
            return []
        field = self.product_model._meta.get_field(self.category_field)
        slug = shop_clip_settings.CATEGORY_SLUG_FIELD
        if field.many_to_many:
            return [str(getattr(c, slug, c.pk)) for c in getattr(product, self.category_field).all()]
        value = getattr(product, self.category_field)
        if value is None:
            return []
        if field.is_relation:
            return [str(getattr(value, slug, value.pk))]
        return [str(value)]

    @functools.cached_property
    def category_lookup(self) -> str | None:
        """The ORM lookup that matches one of ``category_values`` (``category__slug``)."""
        if not self.category_field:
            return None
        field = self.product_model._meta.get_field(self.category_field)
        if not field.is_relation:
            return self.category_field
        slug = shop_clip_settings.CATEGORY_SLUG_FIELD
        try:
            field.related_model._meta.get_field(slug)
        except FieldDoesNotExist:
            return f"{self.category_field}__pk"
        return f"{self.category_field}__{slug}"

    def category_lookups(self, values: Iterable[str]) -> dict[str, Any]:
        """ORM lookups on the product that match any of ``values`` (``category_values``-style)."""
        return {f"{self.category_lookup}__in": list(values)}

    @property
    def _category_column(self) -> str:
        """The related category model's field that ``category_lookup`` ends on (slug, or pk)."""
        return self.category_lookup.split("__", 1)[1]

    def category_choices(self) -> list[str]:
        """Every category, as ``category_values`` names them (for a plain field: every value in use)."""
        if not self.category_lookup:
            return []
        field = self.product_model._meta.get_field(self.category_field)
        if field.is_relation:  # the category table: small, where DISTINCT over products is not
            values = on_read(field.related_model._default_manager).order_by().values_list(
                self._category_column, flat=True)
        else:
            values = (on_read(self.product_model._default_manager).order_by()
                      .values_list(self.category_lookup, flat=True).distinct())
        return sorted({str(value) for value in values if value not in (None, "")})

    def category_names(self, values: Iterable[str]) -> dict[str, str]:
        """Display names (the category model's ``str()``) of ``category_values``-style values."""
        values = list(values)
        field = self.product_model._meta.get_field(self.category_field) if self.category_field else None
        if field is None or not field.is_relation:
            return {value: value for value in values}
        key = self._category_column
        rows = on_read(field.related_model._default_manager).filter(**{f"{key}__in": values})
        return {str(getattr(row, key)): str(row) for row in rows}

    def product_queryset(self) -> models.QuerySet:
        """Products as search returns them (related category fetched in the same query)."""
        qs = self.products()
        if self.category_field:
            field = self.product_model._meta.get_field(self.category_field)
            if field.many_to_many:
                qs = qs.prefetch_related(self.category_field)
            elif field.is_relation:
                qs = qs.select_related(self.category_field)
        return qs

    # -- filters --------------------------------------------------------------------------------
    def filter_names(self) -> frozenset[str] | None:
        """``FILTERS``' names, where the store's subclass reads no others (it overrides neither
        ``filter_kwargs`` nor ``filter_conditions``)."""
        own = (type(self).filter_kwargs is SettingsCatalog.filter_kwargs
               and type(self).filter_conditions is SettingsCatalog.filter_conditions)
        return frozenset(self.filters) | frozenset(self.filter_callables) if own else None

    def filter_kwargs(self, params: Mapping[str, str], prefix: str = "") -> dict[str, Any]:
        """ORM filter kwargs from query parameters; other names are the caller's to check
        (``filter_names``).

        Values are parsed by the model field the lookup ends on; a bad value raises FilterError.
        """
        kwargs: dict[str, Any] = {}
        for param, lookup in self.filters.items():
            raw = params.get(param)
            if raw in (None, ""):
                continue
            field = self._lookup_field(lookup)
            try:
                value = _parse_value(field, raw)
            except ValidationError as exc:
                raise FilterError(f"{param}: {'; '.join(exc.messages)}") from exc
            kwargs[prefix + lookup] = value
        return kwargs

    def filter_conditions(self, params: Mapping[str, Any]) -> list[models.Q]:
        """``Q`` objects from the computed filters whose parameter is given; any error a filter
        raises is a FilterError naming its parameter."""
        conditions = []
        for param, condition in self.filter_callables.items():
            raw = params.get(param)
            if raw in (None, ""):
                continue
            if isinstance(raw, str) and has_control_characters(raw):
                raise FilterError(f"{param}: contains control characters")
            try:
                conditions.append(condition(raw))
            except Exception as exc:  # noqa: BLE001 - the store's code: any failure is this parameter's
                message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                raise FilterError(f"{param}: {message or 'not a value this filter takes'}") from exc
        return conditions

    def _lookup_field(self, lookup: str) -> models.Field:
        model, field = self.product_model, None
        for part in lookup.split("__"):
            try:
                field = model._meta.get_field(part)
            except FieldDoesNotExist:
                if field is None:
                    raise
                break  # a lookup such as gte/in/iexact
            if field.is_relation:
                model = field.related_model
        return field

    def check(self) -> list[str]:
        """Human-readable configuration problems (used by the system checks)."""
        problems = []
        meta = self.product_model._meta
        for name in [self.image_field, self.category_field, *self.text_fields]:
            if name:
                try:
                    meta.get_field(name)
                except FieldDoesNotExist:
                    problems.append(f"{meta.label} has no field {name!r}")
        if not self.image_field and self.image_model is None:
            problems.append("neither SHOP_CLIP['IMAGE_FIELD'] nor SHOP_CLIP['IMAGES'] is set")
        for param, lookup in self.filters.items():
            try:
                self._lookup_field(lookup)
            except FieldDoesNotExist:
                problems.append(f"filter {param!r}: {meta.label} has no field for lookup {lookup!r}")
        if isinstance(self.visible_setting, Mapping):
            try:
                str(self.products().filter(**self.visible_setting).query)
            except (FieldError, FieldDoesNotExist, ValueError, TypeError) as exc:
                problems.append(f"SHOP_CLIP['VISIBLE'] = {self.visible_setting!r}: {exc}; name fields of {meta.label}")
        if self.group_field:
            try:
                field = meta.get_field(self.group_field)
            except FieldDoesNotExist:
                field = None
            if field is None or not field.many_to_one or field.related_model is not self.product_model:
                problems.append(f"SHOP_CLIP['VARIANT_PARENT_FIELD'] = {self.group_field!r}: {meta.label} needs a "
                                "ForeignKey to itself of that name (the variant's parent)")
        return problems


def yes_or_no(text: str) -> bool | None:
    """The words every yes-or-no filter reads: ``true``/``1``/``yes`` and ``false``/``0``/``no``
    in any case; None for any other."""
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    return None


def _parse_value(field: models.Field, raw: Any) -> Any:
    """``raw`` (a query-string value, or a value store code passes) as ``field`` stores it."""
    if isinstance(raw, str):
        if has_control_characters(raw):  # PostgreSQL refuses NUL in text; no store value holds the others
            raise ValidationError("contains control characters")
        if isinstance(field, models.BooleanField):
            answer = yes_or_no(raw)
            if answer is None:
                raise ValidationError("expected true or false")
            return answer
    value = field.to_python(raw)
    if isinstance(field, (models.DecimalField, models.FloatField)) and value is not None:
        if value != value or value in (float("inf"), float("-inf")):  # NaN / infinity
            raise ValidationError("expected a finite number")
    if isinstance(field, (models.DecimalField, models.IntegerField)) and value is not None:
        # The column's max_digits / decimal places, or the database's integer range: past them
        # PostgreSQL answers with an overflow.
        field.run_validators(value)
    return value


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds a control character other than tab and newline (NUL among them)."""
    return any(ord(char) < 32 and char not in "\t\n\r" or 127 <= ord(char) < 160 for char in text)


@functools.lru_cache(maxsize=1)
def get_catalog() -> CatalogBase:
    """The configured catalog adapter (one instance per process)."""
    return shop_clip_settings.CATALOG()


def display_names(values: Iterable[str]) -> dict[str, str]:
    """Each category value's display name (``category_names``: the full name where two share a
    name), the value itself where the catalog has none (a bare ``CatalogBase``)."""
    values = set(values)
    names = getattr(get_catalog(), "category_names", None)
    known = names(values) if names is not None and values else {}
    return {value: known.get(value, value) for value in values}


on_settings_change(get_catalog.cache_clear)  # a changed SHOP_CLIP builds a new catalog
