"""The one KNN query: the products nearest to query vectors, with the store's restrictions in the
same SQL statement (pgvector's HNSW index, or an exact scan as ``scan_plan`` decides)."""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np
import psycopg
from django.contrib.postgres.expressions import ArraySubquery
from django.core.exceptions import EmptyResultSet
from django.db import DatabaseError, connection, transaction
from django.db.models import BooleanField, F, Func, IntegerField, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

from .catalog import get_catalog
from .conf import shop_clip_settings
from .errors import QueryError
from .hnsw import BINARY, distance_sql, halfvec_literals, hamming_sql, index_key_sql, sql_literal
from .models import EmbeddingSpace, ProductFlag, ProductVector
from .read_db import on_read, read_alias, read_connection
from .scan_plan import ScanPlan, plan_for, query_settings
from .statements import NotPlain, plain_key, remembered
from .tag_rules import hidden_flag_kinds

GROUP = "_shop_clip_group"  # the annotation naming a row's product family


@dataclass(frozen=True)
class Restriction:
    """Which products a KNN query may return.

    ``lookups``: ORM lookups on the product (``{"price__lte": 20}``, as ``catalog.filter_kwargs``
    gives); ``conditions``: ``Q`` objects on the product (the store's computed filters);
    ``within``: the store's own queryset of products (its filters, ``Q`` objects, annotations and
    managers), a subquery of the same statement; ``exclude``: product ids never returned (with
    variants, their whole families).  The catalog's visible products always restrict it, and with
    variants each lookup and condition matches a family when any member matches it.
    """

    lookups: Mapping[str, Any] = field(default_factory=dict)
    within: QuerySet | None = None
    exclude: tuple[Any, ...] = ()
    conditions: tuple[Q, ...] = ()

    def narrowed(self, **lookups: Any) -> Restriction:
        return replace(self, lookups={**self.lookups, **lookups})

    def key(self) -> Hashable | None:
        """A key of plain values, the same for restrictions that compile to the same SQL
        (``statements``); None where a value is a queryset or an expression."""
        if self.within is not None:
            return None
        try:
            return plain_key(self.lookups), plain_key(self.exclude), plain_key(self.conditions)
        except NotPlain:
            return None

    def __bool__(self) -> bool:
        restricted = bool(self.lookups or self.conditions or self.exclude) or self.within is not None
        return restricted or get_catalog().hides_products

    def products(self) -> QuerySet:
        """The store's products this restriction leaves (each variant whose family matches)."""
        return self._narrow(get_catalog().products(), "pk", "")

    def product_ids(self, *, approximate: bool = False) -> QuerySet:
        """The ids of the products this restriction leaves, one column, unordered, on the read
        database.  Tag filters alone (``tag_filter_kwargs``: a subquery of distinct product ids)
        are read from the tag index without the product table (docs/decisions/exact-or-index.md);
        ``approximate``: even where the tagged products are not exactly those left (hidden ones, a
        condition, variants' families), for a count that only chooses the scan plan."""
        lookups = self.lookups
        tags_alone = (set(lookups) == {"pk__in"} and isinstance(lookups["pk__in"], QuerySet)
                      and self.within is None and not self.exclude)
        catalog = get_catalog()
        if tags_alone and (approximate or not (self.conditions or catalog.hides_products or catalog.group_field)):
            return on_read(lookups["pk__in"]).order_by()
        return on_read(self.products()).order_by().values("pk")

    def apply(self, rows: QuerySet) -> QuerySet:
        """``rows`` of ``ProductVector`` narrowed to the products this restriction leaves."""
        return self._narrow(rows, "product_id", "product__")

    def among_ids(self, rows: QuerySet) -> QuerySet:
        """``rows`` of ``ProductVector`` of the products this restriction leaves, as ``apply``,
        reached by ``product_id = ANY(ARRAY(<their ids>))``: one index scan over the sorted ids,
        where a join probes the index once a product (the exact plan's few thousand products;
        docs/decisions/filtered-search-at-1m.md)."""
        listed = self._listed_ids()
        if listed is not None:  # few products' words, and nothing else: their keys are the ids
            rows = rows.filter(product_id__in=listed)
        else:
            rows = rows.filter(AnyOf(F("product_id"), ArraySubquery(self.product_ids())))
        field_name = get_catalog().group_field
        return rows.annotate(**{GROUP: group_key(field_name, "product__")}) if field_name else rows

    def _listed_ids(self) -> KeyList | None:
        """The products' keys where the restriction is a list of them alone (``keyword_filter`` of
        words few products have) and the catalog hides none and groups none; else None."""
        catalog = get_catalog()
        name = f"{catalog.product_model._meta.pk.name}__in"
        alone = (set(self.lookups) == {name} and isinstance(self.lookups[name], KeyList) and self.within is None
                 and not self.exclude and not self.conditions)
        return self.lookups[name] if alone and not (catalog.hides_products or catalog.group_field) else None

    def _narrow(self, rows: QuerySet, key: str, prefix: str) -> QuerySet:
        catalog = get_catalog()
        shown = on_read(catalog.visible(catalog.products()) if catalog.hides_products else catalog.products())
        if catalog.hides_products:
            rows = rows.filter(**{f"{key}__in": shown.order_by().values("pk")})
        if self.within is not None:  # the store's queryset, on the database the statement runs on
            rows = rows.filter(**{f"{key}__in": on_read(self.within).order_by().values("pk")})
        if not catalog.group_field:
            rows = rows.filter(**{prefix + name: value for name, value in self.lookups.items()})
            for condition in self.conditions:  # a Q on the product: a subquery, whatever it joins
                rows = rows.filter(**{f"{key}__in": catalog.products().filter(condition).order_by().values("pk")})
            return rows.exclude(**{f"{key}__in": list(self.exclude)}) if self.exclude else rows
        # Families: a filter matches when any member matches; the family's parent must be visible too.
        rows = rows.annotate(**{GROUP: group_key(catalog.group_field, prefix)})
        # Only visible members count: a hidden variant's words or price never bring its family in.
        members = [shown.filter(**{name: value}) for name, value in self.lookups.items()]
        members += [shown.filter(condition) for condition in self.conditions]
        if catalog.hides_products:
            members.append(shown.filter(**{f"{catalog.group_field}__isnull": True}))
        for matching in members:
            rows = rows.filter(**{f"{GROUP}__in": _groups(matching)})
        if self.exclude:
            rows = rows.exclude(**{f"{GROUP}__in": _groups(catalog.products().filter(pk__in=list(self.exclude)))})
        return rows


class KeyList(RawSQL):
    """Products' keys as one array parameter, for an ``__in`` lookup on them: ``IN (SELECT
    unnest(%s))``, where a list is one placeholder a key (a thousand keys cost more to bind than
    the query takes to run)."""

    def __init__(self, keys: list[Any]) -> None:
        field = get_catalog().product_model._meta.pk
        super().__init__(f"SELECT unnest(%s::{field.rel_db_type(connection)}[])", (list(keys),))
        self.keys = list(keys)

    def shop_clip_key(self) -> tuple:
        return self.sql, tuple(self.keys)


class AnyOf(Func):
    """``column = ANY(array)``: a B-tree index scan takes the array's values in order, without a
    descent for each value that lies on the page before (PostgreSQL 17 and later)."""

    output_field = BooleanField()

    def as_sql(self, compiler, connection, **extra):
        column, array = (compiler.compile(expression) for expression in self.source_expressions)
        return f"{column[0]} = ANY({array[0]})", (*column[1], *array[1])


def group_key(field_name: str, prefix: str = "") -> Coalesce:
    """A product's family key: its parent's, or its own."""
    return Coalesce(F(f"{prefix}{field_name}_id"), F(f"{prefix}pk" if prefix else "pk"))


def _groups(products: QuerySet) -> QuerySet:
    """The family keys of ``products``, as a subquery."""
    field_name = get_catalog().group_field
    return products.order_by().annotate(**{GROUP: group_key(field_name)}).values(GROUP)


class Neighbour(NamedTuple):
    product_id: Any
    distance: float  # cosine distance: 0 is the same direction
    image_key: str
    group_id: Any  # the product's family (itself without variants)


def nearest(vectors: np.ndarray | Sequence[np.ndarray], space: EmbeddingSpace, *, wanted: int,
            restriction: Restriction = Restriction(), plan: ScanPlan | None = None) -> list[Neighbour]:
    """The ``wanted`` products nearest to any of ``vectors``, nearest first, each once by its
    best-matching image.

    One SQL statement for all the query vectors (a KNN query each); pgvector's iterative index
    scan keeps scanning until enough rows pass the restriction, so a filter still fills the page.
    ``plan``: ``plan_for`` the restriction when not given.  A page the index leaves short is
    where a remembered plan may be out of date: the restriction is counted again, and searched
    exactly if it now leaves few enough products.
    """
    vectors = _query_vectors(vectors, space)
    fetch = _first_fetch(wanted)
    plan = plan or plan_for(restriction, space)
    while True:
        best, truncated = _best_rows(vectors, space, fetch, restriction, plan)
        if len(best) >= wanted or not truncated:
            break
        fetch *= 2
    if _stale_index_plan(len(best), wanted, plan, restriction, space):
        return nearest(vectors, space, wanted=wanted, restriction=restriction, plan=ScanPlan.EXACT)
    return _ranked(best, wanted)


def _stale_index_plan(found: int, wanted: int, plan: ScanPlan, restriction: Restriction,
                      space: EmbeddingSpace) -> bool:
    """Whether a page the index left short came from a remembered plan that is out of date: the
    restriction, counted again, now leaves few enough products for exact search."""
    return found < wanted and plan is ScanPlan.INDEX and plan_for(restriction, space, recount=True) is ScanPlan.EXACT


def nearest_each(vectors: np.ndarray | Sequence[np.ndarray], space: EmbeddingSpace, *, wanted: int,
                 restrictions: Sequence[Restriction] | None = None) -> list[list[Neighbour]]:
    """For each of ``vectors`` on its own, what ``nearest`` gives for it with its restriction
    (``restrictions``, one a vector; none: unrestricted).

    The queries that share a scan plan are one SQL statement, so the regions of a scene photo cost
    one round trip, not one each; a query whose families did not fill ``wanted`` is asked again
    alone, as ``nearest`` would.
    """
    if len(vectors) == 0:
        return []
    vectors = _query_vectors(vectors, space)
    restrictions = [Restriction()] * len(vectors) if restrictions is None else list(restrictions)
    if len(restrictions) != len(vectors):
        raise ValueError(f"{len(vectors)} query vectors, {len(restrictions)} restrictions")
    fetch = _first_fetch(wanted)
    plans: dict[int, ScanPlan] = {}  # by the restriction's identity: one plan for a shared restriction
    by_plan: dict[ScanPlan, list[int]] = {}
    for index, restriction in enumerate(restrictions):
        if id(restriction) not in plans:
            plans[id(restriction)] = plan_for(restriction, space)
        plan = plans[id(restriction)]
        by_plan.setdefault(plan, []).append(index)
    answers: list[list[Neighbour]] = [[] for _ in restrictions]
    for plan, indexes in by_plan.items():
        rows = _rows_each(vectors[indexes], space, fetch, [restrictions[index] for index in indexes], plan)
        for index, found in zip(indexes, rows, strict=True):
            best = _best_of(found)
            if len(best) < wanted and len(found) == fetch:  # several rows a family: this one needs more
                answers[index] = nearest(vectors[index], space, wanted=wanted, restriction=restrictions[index],
                                         plan=plan)
            elif _stale_index_plan(len(best), wanted, plan, restrictions[index], space):
                answers[index] = nearest(vectors[index], space, wanted=wanted, restriction=restrictions[index],
                                         plan=ScanPlan.EXACT)
            else:
                answers[index] = _ranked(best, wanted)
    return answers


def _query_vectors(vectors: np.ndarray | Sequence[np.ndarray], space: EmbeddingSpace) -> np.ndarray:
    vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    if vectors.shape[1] != space.dim:
        raise QueryError(f"query vector has {vectors.shape[1]} dimensions, the index {space.dim}")
    return vectors


def _first_fetch(wanted: int) -> int:
    """Rows a query first fetches for ``wanted`` products."""
    # With several images a product, or several variants a family, one answer can take several rows.
    catalog = get_catalog()
    return wanted * (1 if catalog.image_model is None and not catalog.group_field else 3)


def _best_of(rows: list[Neighbour], best: dict[Any, Neighbour] | None = None) -> dict[Any, Neighbour]:
    """Each family's nearest row of ``rows`` (and of ``best``, which it updates)."""
    best = {} if best is None else best
    for row in rows:
        if row.group_id not in best or row.distance < best[row.group_id].distance:
            best[row.group_id] = row
    return best


def _ranked(best: dict[Any, Neighbour], wanted: int) -> list[Neighbour]:
    # The order of the SQL (distance, then product id), so pages agree on ties (duplicate images).
    return sorted(best.values(), key=lambda row: (row.distance, row.group_id, row.product_id))[:wanted]


def knn_queryset(vector: np.ndarray, space: EmbeddingSpace, fetch: int, restriction: Restriction = Restriction(),
                 plan: ScanPlan = ScanPlan.INDEX) -> QuerySet:
    """``(product_id, distance, image_key, family)`` of the ``fetch`` nearest rows ``restriction``
    leaves, through the halfvec index, or under ``ScanPlan.EXACT`` every matching row's distance
    computed, ties ordered by product.  A space with a binary index: ``binary_statement``."""
    if plan is ScanPlan.EXACT:
        rows = _ranked_rows(vector, space, restriction, exact=True, by_ids=True)
        return rows.order_by("distance", "product_id")[:fetch]
    # The scan orders by the index's own rounding of the distance; the rows carry that distance.
    by_index = RawSQL(distance_sql(space.dim), [halfvec_literals(vector)[0]])
    return _ranked_rows(vector, space, restriction, exact=False, by_index=by_index).order_by("by_index")[:fetch]


def binary_statement(vector: np.ndarray, space: EmbeddingSpace, fetch: int, restriction: Restriction,
                     candidates: int) -> tuple[str, tuple]:
    """SQL and parameters for a space with a binary index: the ``candidates`` rows ``restriction``
    leaves nearest by their sign bits (the index, with the iterative scan past filtered rows),
    re-ranked by the halfvec distance; rows as ``knn_queryset``'s.  The candidates are a subquery
    in FROM, so their distances are computed on the rows the index scan fetched (``id IN`` would
    fetch each again: docs/decisions/binary-quantised-index.md)."""
    rows = _ranked_rows(vector, space, restriction, exact=True, hamming=Hamming(space, halfvec_literals(vector)[0]))
    sql, params = rows.order_by("hamming")[:candidates].query.sql_with_params()
    # Output columns by position (product_id, distance, ...): the same names may repeat without variants.
    return f"SELECT * FROM ({sql}) AS candidates ORDER BY 2, 1 LIMIT {int(fetch)}", params


def _ranked_rows(vector: np.ndarray, space: EmbeddingSpace, restriction: Restriction, *, exact: bool,
                 by_ids: bool = False, **ordering: Any) -> QuerySet:
    """The space's vector rows ``restriction`` leaves (and no open hidden flag), as
    ``(product_id, distance, image_key, family)``, unordered; ``by_ids``: reached by the
    restricted products' ids (``Restriction.among_ids``); ``ordering``: annotations to order by,
    not selected."""
    rows = on_read(ProductVector.objects.filter(space=space, dim=space.dim, embedding__isnull=False))
    rows = restriction.among_ids(rows) if by_ids else restriction.apply(rows)
    hidden = hidden_flag_kinds()
    if hidden:  # open moderation flags of these kinds keep a product away from shoppers
        rows = rows.exclude(product_id__in=ProductFlag.objects.filter(
            space=space, kind__in=hidden, reviewed_at__isnull=True).values("product_id"))
    family = GROUP if get_catalog().group_field else "product_id"
    distance = distance_sql(space.dim, exact=True) if exact else index_key_sql(space.dim)
    return (rows.annotate(distance=RawSQL(distance, [halfvec_literals(vector)[0]]),
                          **ordering).values_list("product_id", "distance", "image_key", family))


def _knn_statements(vectors: np.ndarray, space: EmbeddingSpace, fetch: int, restrictions: list[Restriction],
                    plan: ScanPlan) -> list[tuple[str, list] | None]:
    """``_knn_statement`` for each vector and its restriction; the queries of one restriction
    compiled once (or remembered: ``statements``), each with its own vector's literal (the ORM's
    compiling costs more than the query)."""
    compiled: dict[int, tuple[str, tuple[str, tuple] | None]] = {}
    statements: list[tuple[str, list] | None] = []
    for vector, literal, restriction in zip(vectors, halfvec_literals(vectors), restrictions, strict=True):
        if id(restriction) not in compiled:
            compiled[id(restriction)] = _compiled(vector, literal, space, fetch, restriction, plan)
        first, statement = compiled[id(restriction)]
        if statement is None:
            statements.append(None)
            continue
        sql, params = statement
        statements.append((sql, [literal if isinstance(param, str) and param == first else param for param in params]))
    return statements


def _compiled(vector: np.ndarray, literal: str, space: EmbeddingSpace, fetch: int, restriction: Restriction,
              plan: ScanPlan) -> tuple[str, tuple[str, tuple] | None]:
    """The vector literal ``_knn_statement`` was compiled with, and the statement: remembered for
    a restriction of plain values in a space with a halfvec index (a binary one's statement holds
    its centre)."""
    key, catalog = restriction.key(), get_catalog()  # a changed SHOP_CLIP makes a new catalog, and forgets
    catalog_key = catalog.statement_key()
    if key is None or catalog_key is None or space.index_kind == BINARY:
        return literal, _knn_statement(vector, space, fetch, restriction, plan)
    context = ("knn", space.pk, space.dim, space.index_kind, fetch, plan, read_alias(),
               id(catalog), catalog_key, tuple(hidden_flag_kinds()), key)
    return remembered(context, lambda: (literal, _knn_statement(vector, space, fetch, restriction, plan)))


def _knn_statement(vector: np.ndarray, space: EmbeddingSpace, fetch: int, restriction: Restriction,
                  plan: ScanPlan) -> tuple[str, tuple] | None:
    """SQL and parameters of ``knn_queryset``, or of ``binary_statement`` for a space with a binary
    index; None where the restriction leaves no row."""
    candidates = binary_candidates(space, fetch, plan)
    try:
        if candidates:
            return binary_statement(vector, space, fetch, restriction, candidates)
        rows = knn_queryset(vector, space, fetch, restriction, plan)
        return rows.query.get_compiler(using=rows.db).as_sql()
    except EmptyResultSet:  # a restriction nothing can pass (a category with no browsable products)
        return None


class Hamming(Func):
    """The hamming distance of a row's sign bits to a query vector's, as the space's binary index
    has them; the column as the compiler names it (``U0`` inside the subquery of candidates)."""

    output_field = IntegerField()

    def __init__(self, space: EmbeddingSpace, literal: str) -> None:
        super().__init__(F("embedding"))
        self.space, self.literal = space, literal

    def as_sql(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        return hamming_sql(self.space.dim, centre(self.space), column), [*params, self.literal]


def binary_candidates(space: EmbeddingSpace, fetch: int, plan: ScanPlan) -> int | None:
    """How many rows a query of ``fetch`` takes from the space's binary index to re-rank; None where
    the plan is not the index's or the space's index is a halfvec one (it ranks by the distance itself)."""
    if plan is not ScanPlan.INDEX or space.index_kind != BINARY:
        return None
    return max(int(shop_clip_settings.BINARY_INDEX["CANDIDATES"]), fetch)


def centre(space: EmbeddingSpace) -> np.ndarray | None:
    """The vector the space's binary index takes sign bits around (None: the plain sign bits)."""
    # A list as the field reads it, or the array record_centre set.
    return None if space.index_centre is None else np.asarray(space.index_centre, dtype=np.float32)


def set_local(cursor, values: Mapping[str, str]) -> None:
    """SET LOCAL several settings in one round trip (they end with the transaction)."""
    cursor.execute(set_local_sql(values))


def set_local_sql(values: Mapping[str, str]) -> str:
    """``SET LOCAL`` statements for ``values``.  Statements, not ``set_config()`` calls: Citus
    forwards SET LOCAL to the shards a transaction reaches, and a function call it does not
    (docs/scaling.md)."""
    return "; ".join(f"SET LOCAL {_setting_name(name)} = {sql_literal(str(value))}" for name, value in values.items())


def reset_local(cursor, names) -> None:
    """The settings ``set_local`` changed back to the session's values, for the rest of the transaction."""
    cursor.execute("; ".join(f"SET LOCAL {_setting_name(name)} TO DEFAULT" for name in names))


def _setting_name(name: str) -> str:
    if not re.fullmatch(r"[a-z_]+(\.[a-z_]+)?", name):
        raise ValueError(f"not a setting name: {name!r}")
    return name


def _best_rows(vectors: np.ndarray, space: EmbeddingSpace, fetch: int, restriction: Restriction,
               plan: ScanPlan) -> tuple[dict[Any, Neighbour], bool]:
    """Each family's nearest row over the query vectors, and whether any query hit ``fetch``."""
    best: dict[Any, Neighbour] = {}
    rows = _rows_each(vectors, space, fetch, [restriction] * len(vectors), plan)
    for found in rows:
        _best_of(found, best)
    return best, any(len(found) == fetch for found in rows)


def _rows_each(vectors: np.ndarray, space: EmbeddingSpace, fetch: int, restrictions: list[Restriction],
               plan: ScanPlan) -> list[list[Neighbour]]:
    """The ``fetch`` nearest rows for each vector and its restriction, in one statement: the KNN
    queries of ``knn_queryset`` (or ``binary_statement``), each a subquery with its own index scan."""
    statements = _knn_statements(vectors, space, fetch, restrictions, plan)
    rows: list[list[Neighbour]] = [[] for _ in statements]
    asked = [(index, statement) for index, statement in enumerate(statements) if statement is not None]
    if not asked:
        return rows
    # Output columns by position (product_id, distance, ...): the same names may repeat without variants.
    sql = " UNION ALL ".join(f"(SELECT {index}, numbered.* FROM ({statement}) AS numbered)"
                             for index, (statement, _) in asked)
    settings = query_settings(binary_candidates(space, fetch, plan) or fetch, plan)
    params = [param for _, (_, statement_params) in asked for param in statement_params]
    found = _run_with_settings(read_connection(), settings, sql, params)
    for index, *row in found:
        rows[index].append(Neighbour._make(row))
    return rows


def _run_with_settings(connection, settings: Mapping[str, str], sql: str, params: list) -> list[tuple]:
    """The rows of ``sql`` run under ``settings`` (SET LOCAL), on one connection in one transaction.

    With psycopg's client-side binding (Django's default) it is one round trip: outside a
    transaction the string's statements are one implicit transaction, so SET LOCAL ends with the
    query and there is no BEGIN or COMMIT to wait for.  Inside the caller's transaction the string
    is a savepoint, rolled back after the query: the caller's settings are as they were, and an
    error (a shopper's value the database refuses) leaves its transaction usable.  Server-side
    binding, or a pipeline, takes one statement a call."""
    nested = connection.in_atomic_block or not connection.get_autocommit()  # a transaction outlives the query
    with connection.cursor() as cursor:
        if _takes_several_statements(cursor.cursor):
            batch = [set_local_sql(settings).replace("%", "%%"), sql]
            if nested:  # a read-only query: rolling back to the savepoint undoes only the settings
                batch = [f"SAVEPOINT {_SAVEPOINT}", *batch,
                         f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}; RELEASE SAVEPOINT {_SAVEPOINT}"]
            try:
                cursor.execute("; ".join(part for part in batch if part), params)
            except DatabaseError:
                if nested:
                    _roll_back_to_savepoint(cursor)
                raise
            while cursor.description is None and cursor.nextset():  # past each SET LOCAL's result
                pass
            return cursor.fetchall()
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        set_local(cursor, settings)
        cursor.execute(sql, params)
        found = cursor.fetchall()
        if nested:  # SET LOCAL lasts until the outer transaction ends: the caller's queries get the defaults
            reset_local(cursor, settings)
        return found


_SAVEPOINT = "shop_clip_knn"


def _takes_several_statements(cursor) -> bool:
    """psycopg sends a string of several statements as one simple query: client-side binding,
    outside a pipeline (whose extended protocol takes one statement)."""
    return (isinstance(cursor, psycopg.ClientCursor)
            and cursor.connection.pgconn.pipeline_status == psycopg.pq.PipelineStatus.OFF)


def _roll_back_to_savepoint(cursor) -> None:
    """The caller's transaction as it was before the failed query (its settings too)."""
    try:
        cursor.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}; RELEASE SAVEPOINT {_SAVEPOINT}")
    except DatabaseError:  # the connection itself failed: the query's error is the one to raise
        pass
