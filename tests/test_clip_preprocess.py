"""The fast CLIP image preprocessing gives the model the same pixels as transformers' own processor."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import CLIPImageProcessor

from shop_clip.encoders.clip_preprocess import ClipImagePreprocessor
from shop_clip.encoders.sentence_transformers import SentenceTransformerEncoder

# Square, landscape, portrait, smaller than the model's input (upscaled), an odd long side that
# the resize truncates, and greyscale and palette images that need converting.
SIZES = [(256, 256), (300, 200), (150, 400), (20, 30), (224, 224), (225, 1000), (641, 479), (33, 32)]


def photos() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for w, h in SIZES]
    smooth = Image.radial_gradient("L").resize((180, 120))  # real photos are smooth, not noise
    return images + [smooth, smooth.convert("RGB").convert("P")]


@pytest.mark.parametrize("side", [224, 32])
def test_the_same_pixels_as_transformers_clip_processor(side):
    processor = CLIPImageProcessor(size={"shortest_edge": side}, crop_size={"height": side, "width": side})
    fast = ClipImagePreprocessor.from_processor(processor)
    assert fast is not None
    for image in photos():
        expected = processor(images=[image.convert("RGB")], return_tensors="pt")["pixel_values"]
        got = fast([image])
        assert got.shape == expected.shape == (1, 3, side, side), image.size
        assert got.dtype == torch.float32
        assert (got - expected).abs().max().item() < 1e-4, image.size


def test_a_batch_is_the_images_one_by_one():
    fast = ClipImagePreprocessor.from_processor(CLIPImageProcessor())
    images = photos()
    batch = fast(images)
    assert batch.shape == (len(images), 3, 224, 224)
    for index, image in enumerate(images):
        assert torch.equal(batch[index], fast([image])[0])


@pytest.mark.parametrize("change", [
    {"do_center_crop": False},  # the output size would follow each image's shape
    {"do_normalize": False},
    {"size": {"height": 224, "width": 224}},  # a squash, not a shortest-edge resize
    {"crop_size": {"height": 300, "width": 300}},  # a crop larger than the resize: transformers pads
])
def test_processors_it_does_not_reproduce_keep_their_own(change):
    assert ClipImagePreprocessor.from_processor(CLIPImageProcessor(**change)) is None


def test_the_encoder_embeds_the_same_with_the_fast_path():
    encoder = SentenceTransformerEncoder("shop-clip-mini", device="cpu")
    assert encoder._fast_images is not None  # the bundled model's processor is a plain CLIP one
    images = photos()
    fast = encoder.preprocess_images(images)
    slow = encoder.model.preprocess([image.convert("RGB") for image in images])
    assert set(fast) == set(slow)
    assert (fast["pixel_values"] - slow["pixel_values"]).abs().max().item() < 1e-4
    vectors = encoder.encode_images(images)
    reference = encoder.encode_features(slow)
    assert np.allclose(vectors, reference, atol=1e-5)
