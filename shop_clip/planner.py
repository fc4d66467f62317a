"""What PostgreSQL's planner expects of a query, without running it."""

from __future__ import annotations

import json

from django.db.models import QuerySet

from .read_db import read_connection


def estimated_rows(queryset: QuerySet) -> int:
    """The planner's estimate of the rows ``queryset`` returns (``EXPLAIN``: statistics only,
    about half a millisecond, whatever the number)."""
    sql, params = queryset.query.sql_with_params()
    with read_connection().cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])
