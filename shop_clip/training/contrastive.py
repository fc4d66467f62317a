"""CLIP's symmetric InfoNCE loss, with several positives per row where texts allow it.

Plain CLIP treats every other pair in a batch as a negative.  Here a text also counts as a
positive for another image when it is the same text, or, when attribute labels are known,
when everything the text names fits that image ("t-shirt" fits every t-shirt in the batch).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# CLIP caps the learnable temperature at 100 so logits cannot grow without bound.
MAX_LOGIT_SCALE = math.log(100.0)
UNNAMED = -1  # a text label for an attribute the text does not mention


def same_text_matches(input_ids: torch.Tensor) -> torch.Tensor:
    """(B, B) bool: item ``i``'s image matches item ``j``'s text when the two texts are identical."""
    return (input_ids[:, None, :] == input_ids[None, :, :]).all(dim=-1)


def label_matches(image_labels: torch.Tensor, text_labels: torch.Tensor) -> torch.Tensor:
    """(B, B) bool: image ``i`` matches text ``j`` when every attribute text ``j`` names equals image ``i``'s.

    ``image_labels``: (B, A) attribute ids; ``text_labels``: (B, A) ids or ``UNNAMED``.
    """
    agree = (text_labels[None, :, :] == UNNAMED) | (text_labels[None, :, :] == image_labels[:, None, :])
    return agree.all(dim=-1)


def clip_loss(image_embeds: torch.Tensor, text_embeds: torch.Tensor, logit_scale: torch.Tensor,
              matches: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of image->text and text->image cross-entropy over a batch of paired rows.

    ``image_embeds`` / ``text_embeds``: (B, D), not necessarily normalised.  ``logit_scale``:
    the log temperature (clamped to CLIP's maximum).  ``matches``: optional (B, B) bool, image
    ``i`` fits text ``j``; each direction spreads its target evenly over the matches (the
    diagonal always matches).  Without it, the plain CLIP identity targets.
    """
    images = F.normalize(image_embeds.float(), dim=-1)
    texts = F.normalize(text_embeds.float(), dim=-1)
    scale = logit_scale.float().clamp(max=MAX_LOGIT_SCALE).exp()
    logits = scale * images @ texts.T
    size = logits.shape[0]
    eye = torch.eye(size, dtype=torch.bool, device=logits.device)
    fits = (matches.to(logits.device) | eye).float() if matches is not None else eye.float()
    image_to_text = F.cross_entropy(logits, fits / fits.sum(dim=1, keepdim=True))
    text_to_image = F.cross_entropy(logits.T, fits.T / fits.T.sum(dim=1, keepdim=True))
    return (image_to_text + text_to_image) / 2


def view_loss(view_embeds: torch.Tensor, image_embeds: torch.Tensor, logit_scale: torch.Tensor,
              positions: torch.Tensor, fits: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy of each view against the batch's images, its own image (``positions``) the target.

    ``view_embeds``: (V, D), other views (a scene, a crop) of the images at ``positions`` of
    ``image_embeds`` (B, D).  ``fits``: optional (V, B) bool, further images a view matches
    (the same product's attributes).  The images are targets only: their gradient is stopped, so
    the loss moves the views towards the catalog, not the catalog towards the views.
    """
    views = F.normalize(view_embeds.float(), dim=-1)
    images = F.normalize(image_embeds.detach().float(), dim=-1)
    scale = logit_scale.float().clamp(max=MAX_LOGIT_SCALE).exp()
    logits = scale * views @ images.T
    own = torch.zeros_like(logits, dtype=torch.bool)
    own[torch.arange(len(positions), device=logits.device), positions.to(logits.device)] = True
    targets = (own | fits.to(logits.device)).float() if fits is not None else own.float()
    return F.cross_entropy(logits, targets / targets.sum(dim=1, keepdim=True))
