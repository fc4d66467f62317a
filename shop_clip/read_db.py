"""The database shoppers' answers are read from: ``SHOP_CLIP["READ_DATABASE"]`` (a replica's
alias in ``DATABASES``), the primary by default.

Reads go there only inside ``reading()``: the Python API's search, look-alikes, looks and tags
and the HTTP API's views enter it, so marking, claims, writes, workers and the admin, which never
do, stay on the primary whatever they share with search.  Inside, every read of a request is on
the alias's one connection (per thread), so a KNN query's ``SET LOCAL`` and its statements share
one transaction there (docs/decisions/read-replica.md).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import QuerySet

from .conf import ShopClipConfigurationError, shop_clip_settings

_reading: ContextVar[str | None] = ContextVar("shop_clip_read_alias", default=None)
Answer = TypeVar("Answer")


class ReadDatabaseUnavailable(OperationalError):
    """The read database could not answer (down, unreachable, a query cancelled by its
    recovery): HTTP 503.  Answers never come from elsewhere instead."""


def configured_alias() -> str:
    """``SHOP_CLIP["READ_DATABASE"]``, or ``"default"`` when unset; it must name a database."""
    alias = shop_clip_settings.READ_DATABASE or DEFAULT_DB_ALIAS
    if alias not in connections.settings:
        raise ShopClipConfigurationError(f"SHOP_CLIP['READ_DATABASE'] = {alias!r} is not in DATABASES "
                                         f"(aliases: {', '.join(connections.settings)})")
    return alias


def read_alias() -> str:
    """The alias the current read goes to: the read database inside ``reading()``, else the primary."""
    return _reading.get() or DEFAULT_DB_ALIAS


def read_connection() -> BaseDatabaseWrapper:
    """The connection of ``read_alias()`` (this thread's, as Django keeps one per alias)."""
    return connections[read_alias()]


def on_read(queryset: QuerySet) -> QuerySet:
    """``queryset`` evaluated on ``read_alias()``."""
    return queryset.using(read_alias())


@contextmanager
def reading(alias: str | None = None) -> Iterator[str]:
    """Reads of the block go to the read database (``alias``: that one instead); its connection
    failures come out as ``ReadDatabaseUnavailable``, naming it."""
    alias = alias or _reading.get() or configured_alias()
    token = _reading.set(alias)
    try:
        yield alias
    except (OperationalError, InterfaceError) as exc:
        failure = unavailable(exc)
        if failure is None:
            raise  # the primary's errors, and those a request's values caused, stay theirs
        raise failure from exc
    finally:
        _reading.reset(token)


def unavailable(exc: Exception) -> ReadDatabaseUnavailable | None:
    """``exc`` as ``ReadDatabaseUnavailable`` when it is a replica's failure inside ``reading()``
    (down or unreachable, no SQLSTATE or classes 08, 57, 58; a query its recovery cancelled,
    40001), else None."""
    alias = read_alias()
    if alias == DEFAULT_DB_ALIAS or isinstance(exc, ReadDatabaseUnavailable):
        return None
    sqlstate = getattr(exc.__cause__, "sqlstate", None) or ""
    if not (isinstance(exc, InterfaceError) or sqlstate[:2] in ("", "08", "57", "58") or sqlstate == "40001"):
        return None
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return ReadDatabaseUnavailable(f"the read database {alias!r} (SHOP_CLIP['READ_DATABASE']) cannot answer: "
                                   f"{reason}; try again shortly")


def reads(function: Callable[..., Answer]) -> Callable[..., Answer]:
    """Decorates a public read of the Python API: it runs inside ``reading()``."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Answer:
        with reading():
            return function(*args, **kwargs)

    return wrapper
