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


def test_a_batch_prepared_in_pieces_is_the_batch_prepared_at_once():
    """The pipeline's reader threads each prepare a piece of a batch; joined, they are the batch,
    for the fast path and for the model's own preprocessing alike."""
    from shop_clip.encoders.base import join_batches

    encoder = SentenceTransformerEncoder("shop-clip-mini", device="cpu")
    images = photos()
    whole = encoder.preprocess_images(images)
    joined = encoder.join_features([encoder.preprocess_images(images[:2]), encoder.preprocess_images(images[2:])])
    assert set(joined) == set(whole) and joined["modality"] == whole["modality"]
    assert torch.equal(joined["pixel_values"], whole["pixel_values"])
    slow = [encoder.model.preprocess(images[:1]), encoder.model.preprocess(images[1:])]
    assert torch.allclose(join_batches(slow)["pixel_values"], encoder.model.preprocess(images)["pixel_values"])
    # lists and arrays are concatenated; other values must agree across the pieces
    joined = join_batches([{"a": [1], "b": np.zeros(1), "m": "x"}, {"a": [2, 3], "b": np.ones(2), "m": "x"}])
    assert joined["a"] == [1, 2, 3] and joined["b"].tolist() == [0, 1, 1] and joined["m"] == "x"
    with pytest.raises(ValueError, match="differ"):
        join_batches([{"m": "image"}, {"m": "text"}])


@pytest.mark.parametrize("size", [(640, 480), (300, 900), (800, 800), (449, 1000)])
def test_decoded_once_to_the_models_side_the_pixels_are_the_processors_own(size):
    """The pipeline resizes a decoded photo straight to the processor's shortest edge (no
    intermediate size), so where JPEG decoding needs no reduced scale the model sees exactly what
    transformers' processor makes of the file."""
    import io

    from shop_clip.images import decode_size, load_image

    from .conftest import noisy_jpeg

    processor = CLIPImageProcessor()
    fast = ClipImagePreprocessor.from_processor(processor)
    data = noisy_jpeg(sum(size), size)
    reference = processor(images=[Image.open(io.BytesIO(data)).convert("RGB")], return_tensors="pt")["pixel_values"]
    ours = fast([load_image(data, target=decode_size(224), resize_to=224)])
    assert (ours - reference).abs().max().item() < 1e-4


def test_loading_the_model_prints_no_loading_bar_and_leaves_other_bars_alone(capfd):
    """transformers' "Loading weights" bar was printed by every command, and a worker logged it as a warning."""
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    from shop_clip.encoders.sentence_transformers import resolve_model_path

    SentenceTransformer(resolve_model_path("shop-clip-mini"), device="cpu")
    assert "Loading weights" in capfd.readouterr().err  # the bar the library prints by itself
    SentenceTransformerEncoder("shop-clip-mini", device="cpu")
    assert "Loading weights" not in capfd.readouterr().err
    # A download's bars (the hub's) and transformers' others are as they were.
    assert transformers_logging.is_progress_bar_enabled() and transformers_logging.set_tqdm_hook(None) is None
