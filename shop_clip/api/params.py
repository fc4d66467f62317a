"""Query-string parsing: the one place where HTTP parameters become the Python API's arguments."""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import QueryError


def whole_number(params: Mapping[str, str], name: str) -> int | None:
    """``params[name]`` as an int, None when absent or empty; QueryError otherwise."""
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except (TypeError, ValueError) as exc:
        raise QueryError(f"{name} must be a whole number") from exc


def paging(params: Mapping[str, str]) -> dict[str, int]:
    """``limit`` and ``offset`` keyword arguments (the API checks their bounds)."""
    limit = whole_number(params, "limit")
    return {"limit": limit, "offset": whole_number(params, "offset") or 0}


def look_sizes(params: Mapping[str, str]) -> dict[str, int | None]:
    """``categories`` and ``per_category`` keyword arguments."""
    return {"categories": whole_number(params, "categories"), "per_category": whole_number(params, "per_category")}
