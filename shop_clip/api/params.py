"""Query-string parsing: the one place where HTTP parameters become the Python API's arguments."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from rest_framework.settings import api_settings

from ..arguments import filter_names, only, unknown_names
from ..errors import QueryError

_WHOLE_NUMBER = re.compile(r"-?[0-9]+")


def once_each(params: Mapping[str, str]) -> None:
    """QueryError naming the parameters given more than once: each is read as one value, and the
    last one winning in silence answers another question than the one asked."""
    lists = getattr(params, "lists", None)
    repeated = sorted(name for name, values in lists() if len(values) > 1) if lists else []
    if repeated:
        raise QueryError(f"{', '.join(repeated)} given more than once; send each parameter once")


def whole_number(params: Mapping[str, str], name: str) -> int | None:
    """``params[name]`` as an int, None when absent or empty; QueryError otherwise."""
    raw = params.get(name)
    if raw in (None, ""):
        return None
    # int() would also take "+5", "1_0" and other scripts' digits ("٣"): a client's bug, not a number.
    try:
        if isinstance(raw, str) and _WHOLE_NUMBER.fullmatch(raw):
            return int(raw)
    except ValueError:  # more digits than Python converts: no bound is that large
        pass
    raise QueryError(f"{name} must be a whole number")


def paging(params: Mapping[str, str]) -> dict[str, int]:
    """``limit`` and ``offset`` keyword arguments (the API checks their bounds)."""
    limit = whole_number(params, "limit")
    return {"limit": limit, "offset": whole_number(params, "offset") or 0}


def look_sizes(params: Mapping[str, str]) -> dict[str, int | None]:
    """``categories`` and ``per_category`` keyword arguments."""
    return {"categories": whole_number(params, "categories"), "per_category": whole_number(params, "per_category")}


def refuse_unknown(params: Mapping[str, str], own: Collection[str], *, takes_filters: bool) -> None:
    """QueryError naming each parameter that is neither the operation's own (``own``, DRF's
    ``?format=``) nor one of the store's filters, the nearest known name beside it: a typo
    (``price_max``) would otherwise be answered as if it were not there.  Nothing is refused where
    the catalog does not say which filter names it reads."""
    filters = filter_names() if takes_filters else frozenset()
    if filters is None:
        return
    known, others = {*own, *filters}, _framework_names()
    unknown = [name for name in params if name not in known and name not in others]
    if unknown:
        raise QueryError(unknown_names(unknown, sorted(known), "parameter"))


def filters_of(params: Mapping[str, str], own: Collection[str]) -> Mapping[str, str]:
    """``params`` less the operation's own parameters and DRF's: the filters, as the Python API
    takes them."""
    return only(params, set(params) - set(own) - _framework_names())


def _framework_names() -> set[str]:
    """Names read by others: DRF's format override, a browser form's CSRF token, and the
    cache-buster front-end libraries add (jQuery's ``cache: false`` sends ``_``)."""
    return {name for name in (api_settings.URL_FORMAT_OVERRIDE, "csrfmiddlewaretoken", "_") if name}
