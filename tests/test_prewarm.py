"""prewarm: what search reads, loaded into shared buffers after a restart and before a newly built
space is activated, by pg_prewarm; checked with pg_buffercache (PostgreSQL 18 can evict a
relation's buffers, so a test sees them come back)."""

from __future__ import annotations

import logging

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from shop_clip import prewarm
from shop_clip.hnsw import index_name, products_index_name
from shop_clip.prewarm import PrewarmUnavailable, install, installed, relations
from shop_clip.spaces import active_space

from .conftest import embedded_demo_catalog


def buffered_blocks(name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_buffercache WHERE relfilenode = pg_relation_filenode(%s::regclass) "
                       "AND reldatabase = (SELECT oid FROM pg_database WHERE datname = current_database())", [name])
        return cursor.fetchone()[0]


def evict(name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_buffercache_evict_relation(%s::regclass)", [name])


def blocks(name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_relation_size(%s::regclass) / current_setting('block_size')::int", [name])
        return cursor.fetchone()[0]


@pytest.fixture
def store(db, settings):
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_buffercache")
    embedded_demo_catalog(settings, 24, seed=31)
    return active_space()


def test_search_reads_are_listed_most_read_first(store):
    from demo_project.catalog.models import Product

    names = relations(store)
    table = Product._meta.db_table
    assert names[:3] == [index_name(store.pk, store.index_kind), products_index_name(store.pk),
                         "shop_clip_productvector"]
    assert names[3].startswith("pg_toast.")  # the vector table's TOAST rows (vectors of many dimensions)
    assert names.index(table) < names.index(f"{table}_pkey") < names.index("shop_clip_productdocument")
    # Only the space's own vector indexes: another space's, or the table's other ones, are not its search's.
    assert not any(name.startswith("shop_clip_productvector_") for name in names)


def test_every_relation_is_loaded_into_shared_buffers_where_there_is_room(store):
    install()
    names = relations(store)
    for name in names:
        evict(name)
    assert buffered_blocks(names[0]) == 0
    loaded = prewarm.prewarm(store, loaded=(seen := []).append)
    assert [item.relation for item in loaded] == names == [item.relation for item in seen]
    assert {item.mode for item in loaded} == {"buffer"}
    for name in names:
        assert buffered_blocks(name) == blocks(name), name


def test_what_shared_buffers_have_no_room_for_goes_to_the_page_cache_only(store, monkeypatch):
    install()
    monkeypatch.setattr(prewarm, "ROOM", 1e-9)  # less room than one block
    index = relations(store)[0]
    evict(index)
    loaded = prewarm.prewarm(store)
    assert {item.mode for item in loaded if item.bytes} == {"read"} and buffered_blocks(index) == 0


def test_a_role_that_may_not_create_the_extension_is_told_who_can(db):
    with connection.cursor() as cursor:
        cursor.execute("DROP EXTENSION IF EXISTS pg_prewarm")  # the test's transaction puts it back
        cursor.execute("CREATE ROLE shop_clip_no_rights; SET LOCAL ROLE shop_clip_no_rights")
    with pytest.raises(PrewarmUnavailable, match="a superuser runs `CREATE EXTENSION pg_prewarm;`"):
        install()
    assert not installed()


def test_a_newly_built_space_is_loaded_before_it_is_activated(db, settings, caplog, monkeypatch):
    from shop_clip import spaces

    install()
    steps = []  # a store's first space is active from the start; a model switch's is activated here
    load, activate = spaces.prewarm_if_installed, spaces.activate_if_complete
    monkeypatch.setattr(spaces, "prewarm_if_installed", lambda space: steps.append("load") or load(space))
    monkeypatch.setattr(spaces, "activate_if_complete", lambda space: steps.append("activate") or activate(space))
    with caplog.at_level(logging.INFO, logger="shop_clip.prewarm"):
        embedded_demo_catalog(settings, 12, seed=32)
    assert steps[:2] == ["load", "activate"] and steps.count("load") == 1
    assert any("into memory" in record.getMessage() and active_space().model_id in record.getMessage()
               for record in caplog.records)


def test_a_load_that_fails_is_logged_and_the_space_is_activated_all_the_same(db, settings, caplog, monkeypatch):
    from django.db import DatabaseError

    install()

    def refused(*args, **kwargs):
        raise DatabaseError("canceling statement due to statement timeout")

    monkeypatch.setattr(prewarm, "prewarm", refused)
    with caplog.at_level(logging.WARNING, logger="shop_clip.prewarm"):
        embedded_demo_catalog(settings, 12, seed=32)
    assert active_space()  # activated
    assert any("statement timeout" in record.getMessage() and "shop_clip_prewarm --database default"
               in record.getMessage() for record in caplog.records)


def test_without_the_extension_a_build_says_how_to_get_it(db, settings, caplog):
    with connection.cursor() as cursor:
        cursor.execute("DROP EXTENSION IF EXISTS pg_prewarm")
    with caplog.at_level(logging.INFO, logger="shop_clip.prewarm"):
        embedded_demo_catalog(settings, 12, seed=32)
    assert any("shop_clip_prewarm" in record.getMessage() for record in caplog.records)


def test_the_command_loads_the_active_space_and_says_what_went_where(store, capsys):
    call_command("shop_clip_prewarm")
    out = capsys.readouterr().out
    assert f"{index_name(store.pk, store.index_kind)}: " in out and "into shared buffers" in out
    assert f"relations of {store.model_id} on 'default'" in out


def test_the_command_before_anything_is_indexed_says_what_to_run(db):
    with pytest.raises(CommandError, match="shop_clip_index"):
        call_command("shop_clip_prewarm")


def test_the_command_names_the_aliases_when_given_an_unknown_database(db):
    with pytest.raises(CommandError, match="'nowhere' is not in DATABASES .*default"):
        call_command("shop_clip_prewarm", "--database", "nowhere")
