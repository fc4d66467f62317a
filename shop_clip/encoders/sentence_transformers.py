"""The default backend: a CLIP model in sentence-transformers format.

Loads ``clip-ViT-B-32`` (or any hub name) in production, or a local model directory, such as
the bundled ``shop-clip-mini`` that the project trains itself.  The same code loads both.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from .base import BaseEncoder, EncoderUnavailable
from .devices import choose_device

if TYPE_CHECKING:
    from .clip_preprocess import ClipImagePreprocessor

logger = logging.getLogger("shop_clip.encoders")

BUNDLED = {"shop-clip-mini": Path(__file__).resolve().parent.parent / "pretrained" / "shop-clip-mini"}
# A model directory's second image tower for shop the look's regions (``encode_regions``).  Its
# weights are not the catalog's: a new tower re-embeds nothing, so the model's id leaves it out.
REGIONS_DIR = "look_regions"


@contextlib.contextmanager
def _quiet_loading():
    """transformers' "Loading weights" bar off while the model loads: every command and worker
    start printed it, and Celery logs a child's stderr as warnings.  A download's bars are the
    hub's, and stay as they are."""
    from transformers.utils import logging as transformers_logging

    def hook(factory, args, kwargs):
        if kwargs.get("desc") == "Loading weights":
            return factory(*args, **{**kwargs, "disable": True})
        return previous(factory, args, kwargs) if previous is not None else factory(*args, **kwargs)

    previous = transformers_logging.set_tqdm_hook(hook)
    try:
        yield
    finally:
        transformers_logging.set_tqdm_hook(previous)


def resolve_model_path(model: str) -> str:
    """A bundled alias -> its directory; anything else unchanged."""
    return str(BUNDLED[model]) if model in BUNDLED else model


def local_model_id(path: Path) -> str:
    """``<dir name>@<hash of weights>``: a retrained model in the same folder gets a new id (a
    new region tower does not: the stored vectors are still the model's)."""
    weights = sorted(path.glob("*.safetensors")) + sorted(
        file for file in path.glob("*/*.safetensors") if file.parent.name != REGIONS_DIR)
    return _hashed_id(path.name, tuple((str(file), file.stat().st_mtime_ns, file.stat().st_size) for file in weights))


@functools.lru_cache(maxsize=8)
def _hashed_id(name: str, weights: tuple[tuple[str, int, int], ...]) -> str:
    """The hash of the weight files, once per process while they are unchanged (a save asks for it)."""
    digest = hashlib.sha256()
    for file, _, _ in weights:
        with open(file, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return f"{name}@{digest.hexdigest()[:10]}"


def files_dim(path: Path) -> int | None:
    """The embedding length a sentence-transformers CLIP directory declares in its files (the
    CLIP config's ``projection_dim``), without loading its weights; None where it declares none."""
    for config in (path / "config.json", path / "0_CLIPModel" / "config.json"):
        if config.is_file():
            declared = json.loads(config.read_text())
            if declared.get("model_type") == "clip" and declared.get("projection_dim"):
                return int(declared["projection_dim"])
    return None


def _image_processor(model):
    """The transformers image processor of a sentence-transformers CLIP model; None where it has none."""
    return getattr(getattr(model[0], "processor", None), "image_processor", None)


def _processor_side(model, *names: tuple[str, str]) -> int | None:
    """The first of the model's image processor settings (name, key) that is set, e.g.
    ``("crop_size", "height")``; None where it has none."""
    processor = _image_processor(model)
    for name, key in names:
        value = getattr(processor, name, None)  # a dict, or transformers' SizeDict
        side = value.get(key) if isinstance(value, dict) else getattr(value, key, None)
        if side:
            return int(side)
    return None


def _image_size(model) -> int | None:
    """The input side of the model's image processor (crop size, else shortest edge), if any."""
    return _processor_side(model, ("crop_size", "height"), ("size", "shortest_edge"))


class SentenceTransformerEncoder(BaseEncoder):
    @classmethod
    def describe(cls, model: str, model_id: str | None = None, **options) -> tuple[str, int] | None:
        """``(model_id, dim)`` of a local model from its files (no torch, no weights loaded); None
        for a hub name, whose files are only known once loaded."""
        local = Path(resolve_model_path(model))
        dim = files_dim(local) if local.is_dir() else None
        return None if dim is None else (model_id or local_model_id(local), dim)

    def __init__(self, model: str, device: str = "auto", batch_size: int = 32, model_id: str | None = None,
                 fp16: bool | None = None, **options) -> None:
        from sentence_transformers import SentenceTransformer

        self.device = choose_device(device)
        self.batch_size = int(batch_size)
        path = resolve_model_path(model)
        try:
            with _quiet_loading():
                self.model = SentenceTransformer(path, device=self.device, **options)
        except Exception as exc:  # the library raises many types for a missing model
            raise EncoderUnavailable(
                f"could not load the CLIP model {model!r}: {str(exc).rstrip('.')}. Without internet access, point "
                "SHOP_CLIP['ENCODER']['MODEL'] at a local sentence-transformers directory, or use "
                "the bundled 'shop-clip-mini'."
            ) from exc
        # fp16 halves memory and doubles throughput on GPUs; CPUs have no fast fp16 path.
        if fp16 if fp16 is not None else self.device.startswith("cuda"):
            self.model.half()
        self.model.eval()
        local = Path(path)
        self.model_id = model_id or (local_model_id(local) if local.is_dir() else model)
        self._options = {"device": device, "batch_size": batch_size, "fp16": fp16, **options}
        self._regions_dir = local / REGIONS_DIR if (local / REGIONS_DIR / "modules.json").is_file() else None
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(dimension())
        self.image_size = _image_size(self.model)
        if getattr(_image_processor(self.model), "do_resize", False):
            self.resize_side = _processor_side(self.model, ("size", "shortest_edge"))
        self._fast_images = self._fast_image_preprocessing()
        logger.info("loaded %s (dim %d) on %s", self.model_id, self.dim, self.device)

    @functools.cached_property
    def logit_scale(self) -> float:
        """The underlying transformers ``CLIPModel``'s learned temperature, ``exp(logit_scale)``
        (CLIP caps it at 100); 100.0 for a model that has none."""
        import torch

        for module in self.model.modules():
            scale = getattr(module, "logit_scale", None)
            if isinstance(scale, torch.Tensor):
                return float(min(scale.detach().float().exp().item(), 100.0))
        return super().logit_scale

    def _fast_image_preprocessing(self) -> tuple[ClipImagePreprocessor, dict] | None:
        """The fast CLIP preprocessor and the other keys the model's own ``preprocess`` returns
        for images, where the model's image processor is a plain CLIP one; else None."""
        from .clip_preprocess import ClipImagePreprocessor  # imports torch: only where a model is loaded

        processor = _image_processor(self.model)
        fast = ClipImagePreprocessor.from_processor(processor) if processor is not None else None
        if fast is None:
            return None
        probe = self.model.preprocess([Image.new("RGB", (fast.shortest_edge, fast.shortest_edge))])
        if "pixel_values" not in probe:
            return None
        return fast, {key: value for key, value in probe.items() if key != "pixel_values"}

    def preprocess_images(self, images: Sequence[Image.Image]) -> dict:
        """Resize and normalise a batch on the CPU (safe to run in a helper thread)."""
        if self._fast_images is None:
            return self.model.preprocess(list(images))
        fast, other_keys = self._fast_images
        return {**other_keys, "pixel_values": fast(images)}

    def encode_features(self, features: dict) -> np.ndarray:
        """Run the model on preprocessed inputs; returns unit vectors as float32."""
        import torch
        from sentence_transformers.util import batch_to_device

        features = batch_to_device(features, self.model.device)
        if "pixel_values" in features:
            features["pixel_values"] = features["pixel_values"].to(self.model.dtype)
        with torch.inference_mode():
            vectors = self.model.forward(features)["sentence_embedding"]
            vectors = torch.nn.functional.normalize(vectors.float(), dim=-1)
        return vectors.cpu().numpy()

    def _batched(self, items: Sequence, batch_size: int | None, preprocess) -> np.ndarray:
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        size = batch_size or self.batch_size
        return np.concatenate([self.encode_features(preprocess(items[i:i + size]))
                               for i in range(0, len(items), size)])

    def encode_images(self, images: Sequence[Image.Image], *, batch_size: int | None = None) -> np.ndarray:
        return self._batched(list(images), batch_size, self.preprocess_images)

    def encode_texts(self, texts: Sequence[str], *, batch_size: int | None = None) -> np.ndarray:
        return self._batched(list(texts), batch_size, lambda chunk: self.model.preprocess(list(chunk)))

    @functools.cached_property
    def _region_tower(self) -> SentenceTransformerEncoder | None:
        """The model directory's ``look_regions`` tower, loaded at the first scene photo."""
        if self._regions_dir is None:
            return None
        return SentenceTransformerEncoder(str(self._regions_dir), model_id=f"{self.model_id}/{REGIONS_DIR}",
                                          **self._options)

    def encode_regions(self, images: Sequence[Image.Image]) -> np.ndarray | None:
        tower = self._region_tower
        return None if tower is None else tower.encode_images(images)
