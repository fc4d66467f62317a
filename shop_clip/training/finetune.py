"""Fine-tune any sentence-transformers CLIP (the bundled mini, or clip-ViT-B-32 saved locally).

Independent of Django: the ``shop_clip_finetune`` management command gathers the shop's
(image, text) pairs and calls :func:`finetune`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image
from transformers import CLIPModel

from .pairs import encode_pairs
from .retrieval import retrieval_metrics
from .training_loop import Schedule, train_contrastive

__all__ = ["finetune", "retrieval_metrics"]


def _resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def finetune(model_dir: str | Path, pairs: Sequence[tuple[Image.Image, str]], output_dir: str | Path, *,
             epochs: int = 3, batch_size: int = 32, lr: float = 1e-5, seed: int = 0, device: str = "cpu",
             progress: bool = True, augment: bool = True,
             eval_pairs: Sequence[tuple[Image.Image, str]] | None = None) -> dict:
    """Fine-tune the CLIP in ``model_dir`` on ``pairs`` of (PIL image, text) and save it to ``output_dir``.

    Uses the symmetric InfoNCE loss with CLIP's learnable temperature.  ``lr``: about 1e-5 for a
    pretrained ViT-B/32, 1e-4 for the mini model.  ``device``: "cpu", "cuda" or "auto".
    ``eval_pairs``: an optional held-out split, measured with :func:`retrieval_metrics` before
    and after.  Returns ``{"steps", "seconds", "first_loss", "last_loss", "output_dir"}`` plus
    ``"before"`` / ``"after"`` metric dicts when ``eval_pairs`` is given.
    """
    from sentence_transformers import SentenceTransformer

    if len(pairs) < 2:
        raise ValueError("fine-tuning needs at least two (image, text) pairs")
    device = _resolve_device(device)
    encoder = SentenceTransformer(str(model_dir), device=device)
    module = encoder[0]
    model = getattr(module, "model", None)
    if not isinstance(model, CLIPModel):
        raise TypeError(f"{model_dir} is not a CLIP model in sentence-transformers format")
    processor = module.processor

    result: dict = {}
    if eval_pairs:
        result["before"] = retrieval_metrics(encoder, eval_pairs)
    encoded = encode_pairs(processor, ((image, [text]) for image, text in pairs))
    log = train_contrastive(
        model, encoded, Schedule(epochs=epochs, batch_size=batch_size, lr=lr, augment=augment),
        seed=seed, device=device, progress=progress,
        image_mean=processor.image_processor.image_mean, image_std=processor.image_processor.image_std,
    )
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    encoder.save(str(output))
    if eval_pairs:
        result["after"] = retrieval_metrics(encoder, eval_pairs)
    window = max(1, min(10, log.steps // 4))
    result.update(steps=log.steps, seconds=round(log.seconds, 2), first_loss=log.mean_loss(first=window),
                  last_loss=log.mean_loss(last=window), output_dir=str(output))
    return result
