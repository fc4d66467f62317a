"""statements: compiled SQL remembered for a few seconds by a key of plain values."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db.models import F, Q

from shop_clip import statements
from shop_clip.statements import NotPlain, plain_key, remembered


@pytest.fixture(autouse=True)
def _forgotten():
    statements.forget()  # nothing one test remembered (under a clock of its own) reaches the next


def test_equal_plain_values_have_one_key_and_values_that_compile_differently_have_their_own():
    assert plain_key({"price__lte": Decimal("20"), "in_stock": True}) == plain_key(
        {"in_stock": True, "price__lte": Decimal("20")})
    keys = [plain_key(value) for value in (1, 1.0, True, "1", Decimal("1"), Decimal("1.0"), None,
                                           datetime.date(2026, 1, 1))]
    assert len(set(keys)) == len(keys)
    assert plain_key(Q(a=1) | Q(b=2)) == plain_key(Q(a=1) | Q(b=2)) != plain_key(~(Q(a=1) | Q(b=2)))
    assert plain_key([1, 2]) == plain_key((1, 2)) != plain_key((2, 1))


@pytest.mark.parametrize("value", [F("price"), Q(price__lte=F("cost")), object(), {"pk__in": [1, object()]}])
def test_expressions_and_objects_have_no_key(value):
    with pytest.raises(NotPlain):
        plain_key(value)


def test_querysets_have_no_key(db):
    from demo_project.catalog.models import Product

    for value in (Product.objects.all(), Q(pk__in=Product.objects.all())):
        with pytest.raises(NotPlain):
            plain_key(value)


def test_a_value_is_made_once_then_again_once_it_is_older_than_its_seconds(monkeypatch):
    made = []
    clock = [1000.0]
    monkeypatch.setattr(statements.time, "monotonic", lambda: clock[0])
    statements.forget()
    make = lambda: made.append(1) or len(made)  # noqa: E731
    assert [remembered("k", make), remembered("k", make), remembered("other", make)] == [1, 1, 2]
    clock[0] += statements.SECONDS
    assert remembered("k", make) == 3


def test_a_settings_change_forgets_every_statement(settings):
    made = []
    remembered("k", lambda: made.append(1))
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "HNSW_EF_SEARCH": 77}
    remembered("k", lambda: made.append(1))
    assert len(made) == 2


def test_a_full_memo_starts_again_rather_than_growing(monkeypatch):
    monkeypatch.setattr(statements, "SIZE", 3)
    statements.forget()
    for number in range(7):
        remembered(number, lambda number=number: number)
    assert len(statements._entries) <= 3


def test_the_filters_shop_clip_builds_from_plain_values_have_keys_and_their_changed_clones_none(db, settings):
    from shop_clip.keywords import WordsQuery
    from shop_clip.knn import KeyList
    from shop_clip.spaces import configured_space
    from shop_clip.tag_rules import tag_filter_kwargs

    words = WordsQuery("red boots", config="english")
    assert plain_key(words) == plain_key(WordsQuery("red boots", config="english"))
    assert len({plain_key(words), plain_key(~words), plain_key(WordsQuery("red boot", config="english")),
                plain_key(WordsQuery("red boots", config="simple"))}) == 4
    assert plain_key(KeyList([1, 2])) == plain_key(KeyList([1, 2])) != plain_key(KeyList([2, 1]))
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "TAGS": {"colour": ["red", "blue"], "pattern": ["striped", "plain"]},
                          "TAG_FILTERS": ["colour", "pattern"]}
    space = configured_space()
    red = tag_filter_kwargs({"colour": "red"}, space)["pk__in"]
    assert plain_key(red) == plain_key(tag_filter_kwargs({"colour": "red"}, space)["pk__in"])
    assert plain_key(red) != plain_key(tag_filter_kwargs({"colour": "red", "pattern": "plain"}, space)["pk__in"])
    with pytest.raises(NotPlain):
        plain_key(red.filter(product_id__gt=0))  # changed: its SQL is no longer the key's


def test_a_catalog_says_whether_its_statements_may_be_remembered(settings):
    from shop_clip.catalog import get_catalog

    assert get_catalog().statement_key() == ()  # the demo: lookups and Django's own manager
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "VISIBLE": {"in_stock": True}}
    assert get_catalog().statement_key() == ()
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "VISIBLE": lambda queryset: queryset.filter(in_stock=True)}
    assert get_catalog().statement_key() is None  # a callable may read the clock or the request
