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
