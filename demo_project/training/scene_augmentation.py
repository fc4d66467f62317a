"""Scene augmentation for the mini CLIP: products as shop the look crops them out of real photos.

The catalog's photos all show one centred product on a light studio backdrop.  A region of a
shopper's photo shows it smaller or larger, partly cut off by the crop, on a backdrop of any
colour or texture, sometimes with a neighbour's edge in the frame, blurred and noisy.  Trained on
catalog photos only, the 32-pixel model named a busy scene's products right 0.29 of the time even
on perfect crops (docs/decisions/shop-the-look-scenes.md).  This puts a share of each batch
through such a scene: the product cut out with its mask, moved, and pasted on a generated backdrop.

The backdrops are this module's own (gradients, stripes at any angle, checks, smooth blotches),
not the eval's scene generator, so the eval still measures what the model learnt beyond it.
Everything is drawn from the training loop's generator: runs repeat.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from shop_clip.training.augmentation import CLIP_MEAN, CLIP_STD


class SceneAugmentation:
    """``augment(pixels, rows, generator)`` for :func:`~shop_clip.training.training_loop.train_contrastive`.

    ``masks``: (N, 1, H, W) uint8, 255 on the product, aligned with the training pairs' images.
    ``share`` of each batch becomes a scene; of those, ``photo_share`` keep their own backdrop
    (a catalog photo pasted into a collage) instead of being cut out.  With ``batches``, only the
    first that many batches get scenes, and the rest of training sees the catalog alone.
    """

    def __init__(self, masks: torch.Tensor, *, share: float = 0.5, photo_share: float = 0.25,
                 neighbour_share: float = 0.3, mean=CLIP_MEAN, std=CLIP_STD, batches: int | None = None):
        self.masks = masks
        self.batches_left = batches
        self.share, self.photo_share, self.neighbour_share = share, photo_share, neighbour_share
        self.mean = torch.tensor(mean).view(1, 3, 1, 1)
        self.std = torch.tensor(std).view(1, 3, 1, 1)

    def __call__(self, pixels: torch.Tensor, rows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``pixels`` with ``share`` of them replaced by their scenes."""
        scenes, chosen = self.views(pixels, rows, generator)
        if not len(chosen):
            return pixels
        out = pixels.clone().float()
        out[chosen] = scenes
        return out.to(pixels.dtype)

    def views(self, pixels: torch.Tensor, rows: torch.Tensor,
              generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Scenes of ``share`` of the batch, and their positions in it: ``(scene pixels, positions)``.

        The ``views`` of :func:`~shop_clip.training.training_loop.train_contrastive`: each scene
        is paired with its own catalog photo, which stays in the batch.
        """
        if self.batches_left is not None:
            if self.batches_left <= 0:
                return pixels[:0].float(), torch.zeros(0, dtype=torch.long)
            self.batches_left -= 1
        chosen = (torch.rand(len(rows), generator=generator) < self.share).nonzero().flatten()
        if not len(chosen):
            return pixels[:0].float(), chosen
        return self._scenes(pixels[chosen].float(), rows[chosen], generator), chosen

    def _scenes(self, pixels: torch.Tensor, rows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        device = pixels.device
        mean, std = self.mean.to(device), self.std.to(device)
        raw = (pixels * std + mean).clamp(0, 1)
        cut = self.masks[rows].to(device).float() / 255
        count, _, height, width = raw.shape

        def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
            return (low + (high - low) * torch.rand(count, *shape, generator=generator)).to(device)

        photo = (uniform(0, 1) < self.photo_share).view(count, 1, 1, 1)
        mask = torch.where(photo, torch.ones_like(cut), cut)
        # Scale 0.55-1.1 of the catalog framing; shifts up to a third of the frame cut it off at an edge.
        scale = uniform(0.55, 1.1)
        shift = uniform(-0.33, 0.33, 2) * (uniform(0, 1) < 0.4).unsqueeze(1) + uniform(-0.08, 0.08, 2)
        product, mask = _moved(raw, mask, scale, shift)
        backdrop = _backdrops(count, height, width, uniform, generator, device)
        neighbours = (uniform(0, 1) < self.neighbour_share).view(count, 1, 1, 1)
        if count > 1 and bool(neighbours.any()):
            # Another chosen product's edge enters the frame from a side, behind this one.
            other, other_mask = raw.roll(1, 0), cut.roll(1, 0)
            angle = uniform(0, 2 * math.pi)
            reach = uniform(0.75, 1.0)
            offset = torch.stack([torch.cos(angle), torch.sin(angle)], dim=1) * reach.unsqueeze(1) * 1.6
            other, other_mask = _moved(other, other_mask, uniform(0.6, 1.0), offset)
            other_mask = other_mask * neighbours
            backdrop = backdrop * (1 - other_mask) + other * other_mask
        scene = backdrop * (1 - mask) + product * mask
        scene = scene * uniform(0.8, 1.1).view(count, 1, 1, 1)  # the room's light
        blurred = (uniform(0, 1) < 0.5).view(count, 1, 1, 1)
        scene = torch.where(blurred, _blur(scene), scene)
        noise = torch.randn(scene.shape, generator=generator).to(device) * uniform(0.0, 0.025).view(count, 1, 1, 1)
        scene = (scene + noise).clamp(0, 1)
        return (scene - mean) / std


def _moved(raw: torch.Tensor, mask: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor):
    """``raw`` and ``mask`` at ``scale`` of their size, moved by ``shift`` (in widths); nothing outside."""
    theta = torch.zeros(len(raw), 2, 3, device=raw.device)
    theta[:, 0, 0] = 1 / scale
    theta[:, 1, 1] = 1 / scale
    theta[:, :, 2] = -shift * 2 / scale.unsqueeze(1)  # grid units span 2 per width
    grid = F.affine_grid(theta, list(raw.shape), align_corners=False)
    moved = F.grid_sample(raw, grid, mode="bilinear", padding_mode="border", align_corners=False)
    moved_mask = F.grid_sample(mask, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return moved, moved_mask


def _backdrops(count: int, height: int, width: int, uniform, generator: torch.Generator,
               device: torch.device) -> torch.Tensor:
    """A gradient between two colours of any lightness, and over it stripes, checks or blotches."""
    ys, xs = torch.meshgrid(torch.linspace(0, 1, height, device=device), torch.linspace(0, 1, width, device=device),
                            indexing="ij")
    angle = uniform(0, 2 * math.pi).view(count, 1, 1)
    ramp = torch.cos(angle) * xs + torch.sin(angle) * ys
    low = ramp.amin(dim=(1, 2), keepdim=True)
    ramp = ((ramp - low) / (ramp.amax(dim=(1, 2), keepdim=True) - low + 1e-6)).unsqueeze(1)
    first, second = uniform(0.15, 0.95, 3, 1, 1), uniform(0.15, 0.95, 3, 1, 1)
    backdrop = first * (1 - ramp) + second * ramp
    kind = torch.randint(0, 4, (count,), generator=generator).to(device).view(count, 1, 1, 1)
    amplitude = uniform(0.04, 0.14).view(count, 1, 1, 1)
    turn = uniform(0, math.pi).view(count, 1, 1)
    period = uniform(0.08, 0.4).view(count, 1, 1)
    along = (torch.cos(turn) * xs + torch.sin(turn) * ys) / period
    across = (-torch.sin(turn) * xs + torch.cos(turn) * ys) / period
    stripes = torch.sin(2 * math.pi * along).unsqueeze(1)
    checks = ((torch.floor(along) + torch.floor(across)) % 2 - 0.5).unsqueeze(1) * 2
    blotches = F.interpolate(torch.randn(count, 3, 5, 5, generator=generator).to(device), size=(height, width),
                             mode="bicubic", align_corners=False)
    texture = torch.where(kind == 1, stripes, torch.where(kind == 2, checks, torch.where(kind == 3, blotches, 0.0)))
    return (backdrop + amplitude * texture).clamp(0, 1)


def _blur(images: torch.Tensor) -> torch.Tensor:
    kernel = torch.tensor([0.25, 0.5, 0.25], device=images.device)
    kernel = (kernel[:, None] * kernel[None, :]).expand(images.shape[1], 1, 3, 3)
    return F.conv2d(F.pad(images, (1, 1, 1, 1), mode="replicate"), kernel, groups=images.shape[1])
