"""How ``read_db`` names the read database and tells a replica that cannot answer from a query
that failed; no connection is made (this store's settings name "replica": tests/replica_store)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, OperationalError
from django.test import override_settings

from demo_project.catalog.models import Product
from shop_clip.read_db import ReadDatabaseUnavailable, on_read, read_alias, reading, unavailable


class Failure(Exception):
    def __init__(self, sqlstate):
        self.sqlstate = sqlstate


def database_error(sqlstate: str | None) -> OperationalError:
    error = OperationalError("server closed the connection unexpectedly\nmore")
    error.__cause__ = Failure(sqlstate)
    return error


def test_the_read_database_is_named_only_inside_reading():
    with reading():
        with reading():  # nested: the same database
            assert read_alias() == "replica"
            assert on_read(Product.objects.all()).db == "replica"
    assert read_alias() == DEFAULT_DB_ALIAS


@pytest.mark.parametrize("sqlstate, becomes_503", [(None, True), ("08006", True), ("57P01", True), ("40001", True),
                                                   ("54001", False), ("42P01", False)])
def test_only_a_replica_that_cannot_answer_is_unavailable(sqlstate, becomes_503):
    error = database_error(sqlstate)
    assert unavailable(error) is None  # outside reading: the primary's errors stay theirs
    with override_settings(SHOP_CLIP={**settings.SHOP_CLIP, "READ_DATABASE": None}), reading():
        assert unavailable(error) is None  # reading the primary: its errors stay theirs too
    with pytest.raises(ReadDatabaseUnavailable if becomes_503 else OperationalError) as raised:
        with reading():
            raise error
    if becomes_503:
        assert str(raised.value).startswith("the read database 'replica' (SHOP_CLIP['READ_DATABASE']) cannot answer: "
                                            "server closed the connection unexpectedly;")
    else:
        assert raised.value is error
