"""CLIP's image preprocessing, fast: one PIL resize per image, one tensor operation per batch.

transformers' ``CLIPImageProcessor`` (its PIL backend) converts each image between PIL and numpy
arrays step by step (docs/decisions/clip-preprocessing.md). This does
the same steps (shortest-edge resize with the processor's resampling, centre crop, rescale,
normalise) on the uint8 image and normalises the whole batch at once, giving the same numbers (to
float32 rounding; tested) in a fraction of the time. It is used only where the model's processor
is a plain CLIP one; anything else keeps the model's own ``preprocess``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from ..images import shortest_edge_size, to_rgb

# The processor options this implementation reproduces; any other switched on means "not ours".
_REQUIRED_ON = ("do_resize", "do_center_crop", "do_rescale", "do_normalize", "do_convert_rgb")
_UNSUPPORTED_ON = ("do_pad", "do_reduce_labels", "do_flip_channel_order")


class ClipImagePreprocessor:
    def __init__(self, shortest_edge: int, crop: tuple[int, int], resample: int, scale: float,
                 mean: Sequence[float], std: Sequence[float]) -> None:
        self.shortest_edge = shortest_edge
        self.crop_height, self.crop_width = crop
        self.resample = Image.Resampling(resample)
        # (x * scale - mean) / std == x * (scale / std) - mean / std: one multiply-add per value.
        std_array = np.asarray(std, dtype=np.float64)
        self.multiplier = torch.tensor(scale / std_array, dtype=torch.float32).view(1, 3, 1, 1)
        self.offset = torch.tensor(np.asarray(mean, dtype=np.float64) / std_array, dtype=torch.float32).view(1, 3, 1, 1)

    @classmethod
    def from_processor(cls, processor) -> ClipImagePreprocessor | None:
        """The fast equivalent of a transformers image processor, or None where it has none."""
        try:
            config = processor.to_dict()
        except AttributeError:
            return None
        size, crop = config.get("size") or {}, config.get("crop_size") or {}
        # "CLIPImageProcessor", or a named backend of it ("...Pil", "...Fast"): the same options.
        if (not str(config.get("image_processor_type", "")).startswith("CLIPImageProcessor")
                or not all(config.get(name) for name in _REQUIRED_ON)
                or any(config.get(name) for name in _UNSUPPORTED_ON)
                or not size.get("shortest_edge") or any(v for k, v in size.items() if k != "shortest_edge")
                or not (crop.get("height") and crop.get("width"))
                # The crop must fit in the resized image (transformers pads otherwise).
                or max(int(crop["height"]), int(crop["width"])) > int(size["shortest_edge"])
                or len(config.get("image_mean") or ()) != 3 or len(config.get("image_std") or ()) != 3):
            return None
        try:
            resample = int(config.get("resample", Image.Resampling.BICUBIC))
            Image.Resampling(resample)
        except (TypeError, ValueError):
            return None
        return cls(int(size["shortest_edge"]), (int(crop["height"]), int(crop["width"])), resample,
                   float(config["rescale_factor"]), config["image_mean"], config["image_std"])

    def _resize_and_crop(self, image: Image.Image) -> np.ndarray:
        image = to_rgb(image)  # transparency onto white, as shop_clip.images decodes uploads
        new_size = shortest_edge_size(image.size, self.shortest_edge)  # as transformers computes it
        if new_size != image.size:
            image = image.resize(new_size, self.resample)
        width, height = image.size
        top, left = (height - self.crop_height) // 2, (width - self.crop_width) // 2
        return np.asarray(image)[top:top + self.crop_height, left:left + self.crop_width]

    def __call__(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """A batch of PIL images -> ``pixel_values`` (N, 3, crop height, crop width), float32."""
        pixels = torch.from_numpy(np.stack([self._resize_and_crop(image) for image in images]))
        # Channels first while still uint8 (a quarter of the bytes to move), then scale in place.
        return pixels.permute(0, 3, 1, 2).contiguous().float().mul_(self.multiplier).sub_(self.offset)
