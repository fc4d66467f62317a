"""Query-string parsing: the one place where HTTP parameters become the Python API's arguments."""

from __future__ import annotations

import re
from collections.abc import Mapping

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
