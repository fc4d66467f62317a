"""Label-preserving image augmentation on already-normalised CLIP pixel tensors.

Flips, small shifts and zooms, and a mild exposure change: nothing that could turn a red
shirt orange or a stripe into a check.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# CLIPImageProcessor's normalisation constants (OpenAI CLIP).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def augment_pixels(pixels: torch.Tensor, generator: torch.Generator, *, mean=CLIP_MEAN, std=CLIP_STD,
                   max_shift: float = 0.04, zoom: float = 0.06, exposure: float = 0.1) -> torch.Tensor:
    """Randomly flip, shift (``max_shift`` of the width), zoom (1 +/- ``zoom``) and re-expose each image.

    ``pixels``: (B, 3, H, W) float, normalised with ``mean`` / ``std``.  Returns a new tensor
    of the same shape; ``generator`` (on the CPU) makes it reproducible.
    """
    batch = pixels.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return (low + (high - low) * torch.rand(batch, generator=generator)).to(pixels.device)

    scale = uniform(1 - zoom, 1 + zoom)
    flip = torch.where(uniform(0, 1) < 0.5, -1.0, 1.0).to(pixels.device)
    theta = torch.zeros(batch, 2, 3, device=pixels.device)
    theta[:, 0, 0] = scale * flip
    theta[:, 1, 1] = scale
    theta[:, 0, 2] = uniform(-max_shift, max_shift) * 2  # grid units span 2 per image width
    theta[:, 1, 2] = uniform(-max_shift, max_shift) * 2
    grid = F.affine_grid(theta, list(pixels.shape), align_corners=False)
    moved = F.grid_sample(pixels.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)

    # Exposure acts on raw pixels: raw * g, re-normalised, is x * g + (g - 1) * mean / std.
    gain = uniform(1 - exposure, 1 + exposure).view(batch, 1, 1, 1)
    offset = (torch.tensor(mean, device=pixels.device) / torch.tensor(std, device=pixels.device)).view(1, 3, 1, 1)
    return moved * gain + (gain - 1) * offset
