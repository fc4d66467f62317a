"""Move a transformers CLIP in and out of the sentence-transformers directory format.

The encoder backend loads models with ``SentenceTransformer(path)``; training needs the
``CLIPModel`` and ``CLIPProcessor`` inside.  These two functions are the only bridge.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from transformers import CLIPModel, CLIPProcessor


def save_sentence_transformer(model: CLIPModel, processor: CLIPProcessor, output_dir: str | Path) -> Path:
    """Write ``model`` + ``processor`` to ``output_dir`` as a sentence-transformers model (safetensors)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Transformer

    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as staging:
        model.save_pretrained(staging)
        processor.save_pretrained(staging)
        SentenceTransformer(modules=[Transformer(staging)], device="cpu").save(str(output))
    return output


def load_clip_parts(model_dir: str | Path, device: str = "cpu") -> tuple[CLIPModel, CLIPProcessor]:
    """The CLIPModel and processor inside a sentence-transformers CLIP directory (or hub name)."""
    from sentence_transformers import SentenceTransformer

    module = SentenceTransformer(str(model_dir), device=device)[0]
    model, processor = module.model, module.processor
    if not isinstance(model, CLIPModel):
        raise TypeError(f"{model_dir} holds a {type(model).__name__}, not a CLIPModel")
    return model, processor
