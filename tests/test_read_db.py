"""Which database answers are read from: the primary unless ``SHOP_CLIP["READ_DATABASE"]`` names
a replica, and only inside ``reading()`` (the replica itself: tests/replica_store)."""

from __future__ import annotations

import pytest
from django.db import DEFAULT_DB_ALIAS

from demo_project.catalog.models import Product
from shop_clip.conf import ShopClipConfigurationError
from shop_clip.read_db import on_read, read_alias, reading


def test_reads_go_to_the_primary_by_default_and_outside_reading():
    assert read_alias() == DEFAULT_DB_ALIAS
    with reading() as alias:
        assert alias == read_alias() == DEFAULT_DB_ALIAS
        assert on_read(Product.objects.all()).db == DEFAULT_DB_ALIAS


def test_an_alias_not_in_databases_names_the_setting(settings):
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "READ_DATABASE": "replica"}
    with pytest.raises(ShopClipConfigurationError, match="READ_DATABASE.*'replica'"):
        with reading():
            pass
