"""(image, text) training pairs, preprocessed once into tensors.

Images go through the model's own CLIP processor, the very call sentence-transformers makes
at encode time, so training and inference see identical pixels.  An image may own several
texts (title, description, queries); training draws one of them per step.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch
from PIL import Image
from transformers import CLIPProcessor

_CHUNK = 256


@dataclass
class EncodedPairs:
    """Preprocessed pairs.

    ``pixel_values``: (N, 3, H, W) float16, CLIP-normalised.  ``input_ids`` / ``attention_mask``:
    (M, L).  The texts of image ``i`` are rows ``text_offsets[i]:text_offsets[i + 1]``.
    Optional attribute labels, (N, A) for images and (M, A) for texts (``-1`` where a text
    does not name the attribute), let a text count as a positive for every image it fits.
    """

    pixel_values: torch.Tensor
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    text_offsets: torch.Tensor
    image_labels: torch.Tensor | None = field(default=None)
    text_labels: torch.Tensor | None = field(default=None)

    def __len__(self) -> int:
        return int(self.pixel_values.shape[0])


def pixel_values_for(processor: CLIPProcessor, images: Sequence[Image.Image]) -> torch.Tensor:
    """CLIP-normalised (N, 3, H, W) float32 pixels, exactly as sentence-transformers computes them."""
    return processor.image_processor(list(images), return_tensors="pt")["pixel_values"]


def token_ids_for(processor: CLIPProcessor, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask) for ``texts``, padded to the longest and truncated to the model limit."""
    tokens = processor.tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt")
    return tokens["input_ids"], tokens["attention_mask"]


def encode_pairs(processor: CLIPProcessor, items: Iterable[tuple[Image.Image, Sequence[str]]]) -> EncodedPairs:
    """Preprocess ``(image, texts)`` items; images are converted in chunks so few PIL images live at once."""
    pixel_chunks: list[torch.Tensor] = []
    texts: list[str] = []
    offsets = [0]
    pending: list[Image.Image] = []
    for image, image_texts in items:
        if not image_texts:
            raise ValueError("every image needs at least one text")
        pending.append(image)
        texts.extend(image_texts)
        offsets.append(len(texts))
        if len(pending) == _CHUNK:
            pixel_chunks.append(pixel_values_for(processor, pending).half())
            pending = []
    if pending:
        pixel_chunks.append(pixel_values_for(processor, pending).half())
    if not pixel_chunks:
        raise ValueError("no pairs to encode")
    input_ids, attention_mask = token_ids_for(processor, texts)
    return EncodedPairs(torch.cat(pixel_chunks), input_ids, attention_mask, torch.tensor(offsets))
