"""Training data for the mini CLIP: catalog products, each with several labelled texts to draw from."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import torch
from PIL import Image
from transformers import CLIPProcessor

from shop_clip.training.contrastive import UNNAMED
from shop_clip.training.pairs import EncodedPairs, encode_pairs

from .synthetic import HELD_OUT_PAIRS, SyntheticProduct, generate_catalog
from .vocabulary import CATEGORIES, COLOURS, PATTERNS
from .wording import QUERY_KINDS, describe, query_for

EXTRA_DESCRIPTIONS = 1  # re-worded copies per product: template resampling
# Drawn again (category twice more): a text without the colour is what teaches that shape
# outweighs colour, which look-alike search needs (see docs/training.md, "How we got here").
SHAPE_QUERY_KINDS = ("category", "category", "pattern_category")
LABELLED = ("category", "colour", "pattern")
# Which attributes each kind of text names; shop copy names them all.
NAMED_BY_KIND = {
    "copy": LABELLED,
    "colour_pattern_category": LABELLED,
    "colour_category": ("category", "colour"),
    "pattern_category": ("category", "pattern"),
    "category": ("category",),
}
_VALUES = {
    "category": [category.slug for category in CATEGORIES],
    "colour": [colour.name for colour in COLOURS],
    "pattern": [pattern.slug for pattern in PATTERNS],
}


def product_texts(product: SyntheticProduct, rng: np.random.Generator) -> list[tuple[str, str]]:
    """A product's texts as (text, kind): title and description, re-worded copy, a query of every kind.

    Short queries ("t-shirt", "red t-shirt") make up a good share on purpose: they teach the
    shape of a category apart from its colour and pattern.
    """
    texts = [(product.title, "copy"), (product.description, "copy")]
    for _ in range(EXTRA_DESCRIPTIONS):
        texts.extend((text, "copy") for text in describe(product.attributes, rng))
    texts.extend((query_for(product.attributes, kind), kind) for kind in QUERY_KINDS + SHAPE_QUERY_KINDS)
    return texts


def _labels(attributes: dict, named: tuple[str, ...]) -> list[int]:
    return [_VALUES[key].index(attributes[key]) if key in named else UNNAMED for key in LABELLED]


def build_training_pairs(processor: CLIPProcessor, count: int, seed: int,
                         image_size: int) -> tuple[EncodedPairs, list[dict], torch.Tensor]:
    """Preprocessed, attribute-labelled pairs from ``count`` products without ``HELD_OUT_PAIRS``.

    Returns the pairs, each product's attributes (for look-alike batching) and its mask at the
    model's input size, (N, 1, H, W) uint8 (for scene augmentation).
    """
    rng = np.random.default_rng(seed + 1)  # text resampling has its own stream
    attributes: list[dict] = []
    text_labels: list[list[int]] = []
    masks: list[np.ndarray] = []
    crop = processor.image_processor.crop_size
    mask_size = (crop["width"], crop["height"])

    def items():
        for product in generate_catalog(count, seed, image_size=image_size, exclude_pairs=HELD_OUT_PAIRS):
            texts = product_texts(product, rng)
            attributes.append(product.attributes)
            masks.append(np.asarray(product.mask.resize(mask_size, Image.BILINEAR)))
            text_labels.extend(_labels(product.attributes, NAMED_BY_KIND[kind]) for _, kind in texts)
            yield product.image, [text for text, _ in texts]

    pairs = encode_pairs(processor, items())
    pairs.image_labels = torch.tensor([_labels(item, LABELLED) for item in attributes])
    pairs.text_labels = torch.tensor(text_labels)
    return pairs, attributes, torch.from_numpy(np.stack(masks)).unsqueeze(1)


def tokenizer_corpus(seed: int, copies: int = 2) -> Iterator[str]:
    """Copy and queries for every (category, colour, pattern) combination, held-out ones included.

    Covering every combination puts every template word and synonym in the vocabulary.
    """
    rng = np.random.default_rng(seed)
    for category, colour, pattern in itertools.product(CATEGORIES, COLOURS, PATTERNS):
        attributes = {"category": category.slug, "colour": colour.name, "pattern": pattern.slug,
                      "department": category.department}
        for material in category.materials:
            for _ in range(copies):
                yield from describe({**attributes, "material": material}, rng)
        for kind in QUERY_KINDS:
            yield query_for(attributes, kind)
