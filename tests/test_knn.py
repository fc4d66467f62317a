"""knn._run_with_settings: a KNN query and its SET LOCAL settings, on one connection in one
transaction, in one round trip where psycopg binds on the client (Django's default)."""

from __future__ import annotations

import psycopg
import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.test.utils import CaptureQueriesContext

from shop_clip.knn import _run_with_settings

SETTINGS = {"work_mem": "77MB", "enable_sort": "off"}
READ_BACK = "SELECT current_setting('work_mem'), current_setting('enable_sort'), %s::int"


def session_value(conn, name: str) -> str:
    with conn.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return cursor.fetchone()[0]


@pytest.fixture
def fresh(db):
    """A connection of its own in autocommit, outside the test's transaction, as a web request has."""
    conn = connections.create_connection(DEFAULT_DB_ALIAS)
    yield conn
    conn.close()


@pytest.fixture
def server_side(db):
    """A connection whose psycopg binds parameters on the server (``server_side_binding``)."""
    settings_dict = {**connection.settings_dict,
                     "OPTIONS": {**connection.settings_dict.get("OPTIONS", {}), "server_side_binding": True}}
    conn = type(connections[DEFAULT_DB_ALIAS])(settings_dict, alias="server_side")
    connections["server_side"] = conn  # transaction.atomic(using=...) looks the alias up
    yield conn
    conn.close()
    del connections["server_side"]


def test_outside_a_transaction_the_settings_apply_to_the_query_alone_in_one_round_trip(fresh):
    with CaptureQueriesContext(fresh) as queries:
        assert _run_with_settings(fresh, SETTINGS, READ_BACK, [7]) == [("77MB", "off", 7)]
    # One statement string, in autocommit: no BEGIN or COMMIT around it (Django would capture them).
    assert len(queries.captured_queries) == 1 and fresh.get_autocommit() and not fresh.in_atomic_block
    assert fresh.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert session_value(fresh, "work_mem") != "77MB" and session_value(fresh, "enable_sort") == "on"


def test_inside_the_callers_transaction_the_settings_are_back_to_the_sessions_for_its_next_query(db):
    assert connection.in_atomic_block  # the test's own transaction, as ATOMIC_REQUESTS gives a view
    with CaptureQueriesContext(connection) as queries:
        assert _run_with_settings(connection, SETTINGS, READ_BACK, [7]) == [("77MB", "off", 7)]
    assert len(queries.captured_queries) == 1
    assert session_value(connection, "work_mem") != "77MB" and session_value(connection, "enable_sort") == "on"


def test_a_percent_sign_in_a_setting_is_not_read_as_a_parameter(fresh):
    rows = _run_with_settings(fresh, {"application_name": "shop 50%"}, "SELECT current_setting('application_name'), "
                              "%s::text", ["given"])
    assert rows == [("shop 50%", "given")]


def test_with_server_side_binding_the_settings_still_apply_to_the_query_alone(server_side):
    with CaptureQueriesContext(server_side) as queries:
        assert _run_with_settings(server_side, SETTINGS, READ_BACK, [7]) == [("77MB", "off", 7)]
    # One statement a call: BEGIN, the settings, the query, COMMIT.
    assert [query["sql"].split()[0] for query in queries.captured_queries] == ["BEGIN", "SET", "SELECT", "COMMIT"]
    assert session_value(server_side, "work_mem") != "77MB" and session_value(server_side, "enable_sort") == "on"


def test_a_failed_query_inside_the_callers_transaction_leaves_it_usable_with_its_settings(db):
    from django.db import DataError

    with pytest.raises(DataError):
        _run_with_settings(connection, SETTINGS, "SELECT 1 / %s::int", [0])
    # Rolled back to the query's savepoint: the caller's transaction goes on, the settings undone.
    assert session_value(connection, "work_mem") != "77MB" and session_value(connection, "enable_sort") == "on"
    assert _run_with_settings(connection, SETTINGS, READ_BACK, [7]) == [("77MB", "off", 7)]


def test_a_failed_query_outside_a_transaction_leaves_the_connection_idle(fresh):
    from django.db import DataError

    with pytest.raises(DataError):
        _run_with_settings(fresh, SETTINGS, "SELECT 1 / %s::int", [0])
    assert fresh.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert session_value(fresh, "work_mem") != "77MB"
