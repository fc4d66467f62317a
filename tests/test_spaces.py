"""Which space a save writes to is known without loading the model: a store's web process never
imports torch to save a product."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import ROOT, worker_env

SAVE_IN_A_FRESH_PROCESS = """
import sys
import django
django.setup()
from django.core.files.base import ContentFile
from django.db import transaction
from demo_project.catalog.models import Category, Product
from shop_clip.models import EmbeddingSpace, ProductVector
from tests.conftest import png_bytes

category, _ = Category.objects.get_or_create(slug="fresh-process", defaults={"name": "Fresh"})
product = Product(title="Saved in a web process", category=category, price=10)
product.image.save("fresh.png", ContentFile(png_bytes()), save=False)
with transaction.atomic():
    product.save()
rows = list(ProductVector.objects.filter(product=product).values_list("space__model_id", "space__dim", "status"))
print("ROWS", rows)
print("TORCH", "torch" in sys.modules, "sentence_transformers" in sys.modules)
product.delete()
category.delete()
"""


@pytest.mark.django_db(transaction=True)
def test_a_save_in_a_fresh_process_marks_the_right_space_and_imports_no_torch():
    from shop_clip.encoders import get_encoder
    from shop_clip.spaces import configured_space

    space = configured_space()  # here, loading the model: the reference
    encoder = get_encoder()
    assert (space.model_id, space.dim) == (encoder.model_id, encoder.dim)
    out = subprocess.run([sys.executable, "-c", SAVE_IN_A_FRESH_PROCESS], cwd=ROOT, capture_output=True, text=True,
                         env=worker_env(CELERY_BROKER_URL="redis://127.0.0.1:1/0"), timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"ROWS [('{space.model_id}', {space.dim}, 'pending')]" in out.stdout, out.stdout
    assert "TORCH False False" in out.stdout, out.stdout


def test_the_model_files_tell_its_id_and_dimension_and_a_hub_name_falls_back_to_its_space(db, settings):
    from shop_clip.encoders import configured_identity, get_encoder
    from shop_clip.models import EmbeddingSpace
    from shop_clip.spaces import configured_space

    encoder = get_encoder()
    assert configured_identity() == (encoder.model_id, encoder.dim)
    # A hub name: nothing on disk tells, so the space recorded when it was last loaded does.
    EmbeddingSpace.objects.create(model_id="clip-ViT-B-32", model_ref="clip-ViT-B-32", dim=512,
                                  backend=settings.SHOP_CLIP["ENCODER"].get(
                                      "BACKEND", "shop_clip.encoders.sentence_transformers.SentenceTransformerEncoder"))
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "ENCODER": {**settings.SHOP_CLIP["ENCODER"], "MODEL": "clip-ViT-B-32"}}
    assert configured_identity() is None
    assert (configured_space().model_id, configured_space().dim) == ("clip-ViT-B-32", 512)
