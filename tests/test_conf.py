"""Defaults, overrides and mistakes in the SHOP_CLIP settings."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from shop_clip.catalog import SettingsCatalog, get_catalog
from shop_clip.conf import DEFAULTS, ShopClipConfigurationError, get_product_model, shop_clip_settings


def test_defaults_apply_where_the_store_is_silent(settings):
    settings.SHOP_CLIP = {}
    assert shop_clip_settings.QUEUE == DEFAULTS["QUEUE"] == "shop_clip"
    assert shop_clip_settings.ENCODER["MODEL"] == "clip-ViT-B-32"
    assert shop_clip_settings.CATALOG is SettingsCatalog


def test_overrides_and_partial_encoder_settings(settings):
    settings.SHOP_CLIP = {"QUEUE": "embeddings", "ENCODER": {"DEVICE": "cpu"}}
    assert shop_clip_settings.QUEUE == "embeddings"
    assert shop_clip_settings.ENCODER["DEVICE"] == "cpu"
    assert shop_clip_settings.ENCODER["BATCH_SIZE"] == DEFAULTS["ENCODER"]["BATCH_SIZE"]


def test_a_partial_binary_index_setting_keeps_the_other_entries(settings):
    settings.SHOP_CLIP = {"BINARY_INDEX": {"CANDIDATES": 800}}
    assert shop_clip_settings.BINARY_INDEX == {**DEFAULTS["BINARY_INDEX"], "CANDIDATES": 800}
    assert shop_clip_settings.VECTOR_INDEX == "halfvec"


def test_unknown_setting_name_is_an_error():
    with pytest.raises(AttributeError):
        _ = shop_clip_settings.NOT_A_SETTING


def test_bad_dotted_path_names_the_setting(settings):
    settings.SHOP_CLIP = {"CATALOG": "nowhere.Catalog"}
    with pytest.raises(ShopClipConfigurationError, match="CATALOG"):
        _ = shop_clip_settings.CATALOG


def test_product_model_setting(settings):
    assert get_product_model()._meta.label == "catalog.Product"
    settings.SHOP_CLIP_PRODUCT_MODEL = "catalog.Nope"
    with pytest.raises(ImproperlyConfigured, match="catalog.Nope"):
        get_product_model()


def test_catalog_is_rebuilt_when_settings_change(settings):
    first = get_catalog()
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "TEXT_FIELDS": ["title"]}
    assert get_catalog() is not first
    assert get_catalog().text_fields == ["title"]


def test_every_cache_built_from_the_settings_resets_itself(settings, db):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from shop_clip.encoders import get_encoder
    from shop_clip.keywords import rarest_word_matches
    from shop_clip.models import EmbeddingSpace
    from shop_clip.zero_shot import prompt_vectors

    space = EmbeddingSpace(model_id="probe", model_ref=str(settings.SHOP_CLIP["ENCODER"]["MODEL"]), dim=0)
    encoder, prompts = get_encoder(), prompt_vectors(space, ["a photo of a shirt"])
    rarest_word_matches("shirt")  # reads the keyword statistics: kept for minutes
    with CaptureQueriesContext(connection) as kept:
        rarest_word_matches("shirt")
    assert get_encoder() is encoder and prompt_vectors(space, ["a photo of a shirt"]) is prompts

    settings.SHOP_CLIP = {**settings.SHOP_CLIP}  # any change to SHOP_CLIP
    assert get_encoder() is not encoder
    assert prompt_vectors(space, ["a photo of a shirt"]) is not prompts
    with CaptureQueriesContext(connection) as again:
        rarest_word_matches("shirt")
    assert len(again) > len(kept)  # the statistics were read again


def test_tags_and_moderation_are_off_by_default_and_shorthand_takes_the_defaults(settings):
    from shop_clip.tag_rules import DEFAULT_PROMPT, moderation, tag_groups, tagging_enabled

    settings.SHOP_CLIP = {}
    assert (DEFAULTS["TAGS"], DEFAULTS["MODERATION"]) == ({}, {})
    assert not tagging_enabled() and tag_groups() == [] and moderation() is None
    fit = {"labels": {"slim": "a slim fit", "loose": "a loose fit"}, "min_score": 0.7}
    settings.SHOP_CLIP = {"TAGS": {"colour": ["red", "blue"], "fit": fit}, "MODERATION": {"CATEGORY_MISMATCH": True}}
    colour, fit_group = tag_groups()
    assert colour.prompts == (DEFAULT_PROMPT.format(label="red"), DEFAULT_PROMPT.format(label="blue"))
    assert colour.min_score == 0.5 and fit_group.min_score == 0.7 and fit_group.labels == ("slim", "loose")
    assert fit_group.prompts == ("a slim fit", "a loose fit")
    assert moderation().min_score == 0.6 and moderation().category_mismatch and tagging_enabled()
    settings.SHOP_CLIP = {"TAGS": {"fit": {"labels": {"slim": "a slim fit"}}}}
    with pytest.raises(ShopClipConfigurationError, match="'fit'.*two labels"):
        tag_groups()


@pytest.mark.parametrize("value, fragment", [
    ({"TAGS": {"colour": {"labels": ["red", "blue"], "prompt": "no placeholder"}}}, "'colour'"),
    ({"TAGS": {"colour": "red"}}, "'colour'"),
    ({"MODERATION": {"FLAGS": {"weapon": "a photo of a weapon"}}}, "SAFE"),
])
def test_tag_and_moderation_mistakes_name_the_setting(settings, value, fragment):
    from shop_clip.tag_rules import moderation, tag_groups

    settings.SHOP_CLIP = value
    with pytest.raises(ShopClipConfigurationError, match=fragment):
        tag_groups()
        moderation()


def test_hide_flagged_names_the_kinds_it_knows(settings):
    from shop_clip.tag_rules import hidden_flag_kinds

    assert hidden_flag_kinds() == []
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "MODERATION": {"HIDE_FLAGGED": ["content", "category_mismatch"]}}
    assert hidden_flag_kinds() == ["content", "category_mismatch"]
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "MODERATION": {"HIDE_FLAGGED": ["weapons"]}}
    with pytest.raises(ShopClipConfigurationError, match=r"HIDE_FLAGGED.*weapons.*choose from"):
        hidden_flag_kinds()
