"""The encoder contract: every backend turns images and texts into unit vectors of one space."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image


class EncoderUnavailable(RuntimeError):
    """The model could not be loaded; the message says which and how to fix the setting."""


class BaseEncoder(ABC):
    """Abstract CLIP-style encoder: the contract every backend keeps, and every attribute the
    pipeline, the spaces and the system checks read.

    ``encode_images`` and ``encode_texts`` return float32 arrays of shape ``(n, dim)`` whose rows
    are L2-normalised, so cosine similarity is a dot product.  A backend sets ``model_id`` and
    ``dim`` (without loading weights where it can); the other attributes have working defaults.
    """

    # Names the weights; the embedding space's key: vectors of different ``model_id`` are never compared.
    model_id: str
    # The length of every vector; the system checks compare it with the stored vectors (E002).
    dim: int
    # Where the model runs: "cpu", "cuda", "cuda:1" (``devices.choose_device`` resolves "auto").
    device: str = "cpu"
    # Images per forward pass: the pipeline splits each claim into batches of this many.
    batch_size: int = 32
    # The square side, in pixels, the image tower sees (224 for ViT-B/32); None where unknown.
    # Image loading decodes no more than twice this (``images.decode_size``).
    image_size: int | None = None
    # The shortest side the preprocessing resizes an image to (CLIP's ``shortest_edge``), if it
    # does: the pipeline resizes decoded images to it once, leaving the preprocessing nothing to do.
    resize_side: int | None = None

    @classmethod
    def describe(cls, **options) -> tuple[str, int] | None:
        """``(model_id, dim)`` for these options without loading the model (a save in a web process
        asks for them); None where only loading tells, and the space recorded for the model is used."""
        return None

    @property
    def logit_scale(self) -> float:
        """The temperature that turns cosine similarities into logits for zero-shot classification
        (``softmax(logit_scale * cosine)``); CLIP's trained value, capped at 100, is the default."""
        return 100.0

    @abstractmethod
    def encode_images(self, images: Sequence[Image.Image], *, batch_size: int | None = None) -> np.ndarray:
        """RGB images -> (n, dim) unit vectors."""

    def preprocess_images(self, images: Sequence[Image.Image]):
        """CPU-side preparation of a batch; backends that can split it from the model override this
        and ``encode_features`` so the pipeline can prepare the next batch while one encodes."""
        return list(images)

    def join_features(self, parts: Sequence):
        """One batch of ``preprocess_images`` output from the outputs for its pieces, in order (the
        pipeline prepares a batch in pieces, on several threads).  The default joins what
        ``join_batches`` knows; a backend with other structures overrides it."""
        return join_batches(parts)

    def encode_features(self, features) -> np.ndarray:
        return self.encode_images(features)

    def encode_regions(self, images: Sequence[Image.Image]) -> np.ndarray | None:
        """Regions of scene photos -> (n, dim) unit vectors in the catalog's space, by an image
        tower trained for them; None where the model has none (shop the look then reads them
        with ``encode_images``)."""
        return None

    @abstractmethod
    def encode_texts(self, texts: Sequence[str], *, batch_size: int | None = None) -> np.ndarray:
        """Texts -> (n, dim) unit vectors."""


def join_batches(parts: Sequence):
    """Pieces of one batch joined along the batch: lists, tuples, numpy arrays and torch tensors
    are concatenated, mappings joined key by key (into a dict), and other values (a ``modality``
    string) must be the same in every piece."""
    first = parts[0]
    if len(parts) == 1:
        return first
    if isinstance(first, Mapping):  # a dict, or transformers' BatchFeature
        return {key: join_batches([part[key] for part in parts]) for key in first}
    if isinstance(first, (list, tuple)):
        return type(first)(item for part in parts for item in part)
    if isinstance(first, np.ndarray):
        return np.concatenate(parts)
    if type(first).__module__.startswith("torch"):
        import torch

        return torch.cat(list(parts))
    if all(part == first for part in parts):
        return first
    raise ValueError(f"cannot join preprocessed pieces of a batch that differ: {first!r}")
