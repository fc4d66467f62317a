"""``shop_clip_status``: counts by state and model, failure reasons, open flags, JSON."""

from __future__ import annotations

import json

from django.core.management import call_command

from shop_clip.claim_lanes import process_pending
from shop_clip.models import EmbeddingSpace, ProductFlag, ProductVector
from shop_clip.spaces import configured_space


def test_status_counts_reasons_and_open_flags(make_product, settings, capsys):
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "ENQUEUE_ON_SAVE": False}
    good = make_product("Red T-shirt")
    make_product("Broken T-shirt", image=b"GIF89a" + b"\x00" * 40)
    process_pending()
    make_product("Waiting T-shirt", colour=(20, 20, 200))

    call_command("shop_clip_status", "--failed")
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "(active)" in line)
    assert row.split()[-6:] == ["3", "1", "1", "1", "valid", "(halfvec)"]  # total, embedded, pending, failed, index
    assert "image main (" in out and "open moderation flags" not in out

    ProductFlag.objects.create(product=good, space=ProductVector.objects.get(product=good).space,
                               kind="category_mismatch", label="Boots", score=0.9, detail="...")
    call_command("shop_clip_status")
    assert "open moderation flags: 1 (category_mismatch 1)" in capsys.readouterr().out

    call_command("shop_clip_status", "--json")
    data = json.loads(capsys.readouterr().out)
    assert (data["total"], data["embedded"], data["pending"], data["failed"]) == (3, 1, 1, 1)
    assert data["models"][0]["active"] is True
    assert data["models"][0]["backend"] == BACKEND and data["models"][0]["index"] == "valid"
    assert data["open_flags"] == {"category_mismatch": 1} and "failed_images" not in data
    call_command("shop_clip_status", "--json", "--failed")
    data = json.loads(capsys.readouterr().out)
    broken = data["failed_images"]
    assert broken["total"] == 1 and broken["images"][0]["image_key"] == "main" and broken["images"][0]["error"]
    EmbeddingSpace.objects.create(model_id="being-written@0", model_ref="x", dim=512)
    ProductVector.objects.create(product=good, image_key="main", space_id="being-written@0", dim=512)
    call_command("shop_clip_status", "--json")
    assert json.loads(capsys.readouterr().out)["models"][-1]["index"] == "none"


BACKEND = "shop_clip.encoders.sentence_transformers.SentenceTransformerEncoder"


def test_each_model_shows_its_backend_and_an_older_space_gets_it_recorded(make_product, settings, capsys):
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "ENQUEUE_ON_SAVE": False}
    make_product("Red T-shirt")
    space = configured_space()
    assert space.backend == BACKEND
    EmbeddingSpace.objects.filter(pk=space.pk).update(backend="")  # as migration 0005 leaves a space
    EmbeddingSpace.objects.create(model_id="retired@0", model_ref="retired", dim=8)

    call_command("shop_clip_status")
    out = capsys.readouterr().out
    assert f"{space.model_id}: {space.dim}-d vectors from {BACKEND}" in out  # recorded as the status met it
    assert "retired@0: 8-d vectors from a backend not recorded" in out
    assert EmbeddingSpace.objects.get(pk=space.pk).backend == BACKEND


def test_the_failed_list_says_when_it_shows_only_the_first(make_product, settings, capsys, monkeypatch):
    from shop_clip.management.commands import shop_clip_status

    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "ENQUEUE_ON_SAVE": False}
    for n in range(3):
        make_product(f"Broken T-shirt {n}", image=b"GIF89a" + b"\x00" * 40)
    process_pending()
    monkeypatch.setattr(shop_clip_status, "FAILED_SHOWN", 2)
    call_command("shop_clip_status", "--failed")
    out = capsys.readouterr().out
    assert out.count("image main (") == 2 and "the first 2 of 3 failed images" in out
