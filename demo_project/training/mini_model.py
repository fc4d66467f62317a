"""The mini CLIP's architecture: a real ``transformers`` CLIPModel, sized for CPU training."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, PreTrainedTokenizerFast

from .tokenizer import BOS_ID, EOS_ID, PAD_ID

# Production clip-ViT-B-32 vectors are 512-d and the database index is built for 512.
PROJECTION_DIM = 512


@dataclass(frozen=True)
class MiniClipSize:
    """Tower sizes; the defaults are the bundled shop-clip-mini."""

    image_size: int = 32
    patch_size: int = 4
    vision_hidden: int = 128
    vision_layers: int = 3
    text_hidden: int = 128
    text_layers: int = 3
    heads: int = 4
    max_text_length: int = 32


def build_mini_clip(tokenizer: PreTrainedTokenizerFast, size: MiniClipSize = MiniClipSize()
                    ) -> tuple[CLIPModel, CLIPProcessor]:
    """A randomly initialised CLIPModel and its processor (CLIP preprocessing at ``image_size`` + ``tokenizer``)."""
    config = CLIPConfig(
        text_config={
            "vocab_size": len(tokenizer), "hidden_size": size.text_hidden, "num_hidden_layers": size.text_layers,
            "intermediate_size": 4 * size.text_hidden, "num_attention_heads": size.heads,
            "max_position_embeddings": size.max_text_length,
            "bos_token_id": BOS_ID, "eos_token_id": EOS_ID, "pad_token_id": PAD_ID,
        },
        vision_config={
            "hidden_size": size.vision_hidden, "num_hidden_layers": size.vision_layers,
            "intermediate_size": 4 * size.vision_hidden, "num_attention_heads": size.heads,
            "image_size": size.image_size, "patch_size": size.patch_size,
        },
        projection_dim=PROJECTION_DIM,
    )
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": size.image_size},
        crop_size={"height": size.image_size, "width": size.image_size},
    )
    tokenizer.model_max_length = size.max_text_length
    return CLIPModel(config), CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)


def describe_size(size: MiniClipSize) -> dict:
    """The size as a plain dict, for logs and docs."""
    return {**asdict(size), "projection_dim": PROJECTION_DIM}
