"""Contrastive training of a transformers CLIPModel on preprocessed pairs (CPU or CUDA)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm
from transformers import CLIPModel

from .augmentation import CLIP_MEAN, CLIP_STD, augment_pixels
from .batching import Batches, RandomBatches
from .contrastive import MAX_LOGIT_SCALE, clip_loss, label_matches, same_text_matches, view_loss
from .pairs import EncodedPairs


@dataclass(frozen=True)
class Schedule:
    """Optimisation settings: AdamW, linear warm-up then cosine decay to 5% of ``lr``."""

    epochs: int = 1
    batch_size: int = 128
    lr: float = 5e-4
    weight_decay: float = 0.05
    warmup_fraction: float = 0.05
    augment: bool = True


@dataclass
class TrainingLog:
    """What a run did: per-step losses, steps, wall time."""

    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def steps(self) -> int:
        return len(self.losses)

    def mean_loss(self, first: int | None = None, last: int | None = None) -> float:
        """Mean loss over the first or last ``n`` steps (all steps by default)."""
        window = self.losses[:first] if first else self.losses[-last:] if last else self.losses
        return sum(window) / max(1, len(window))


def _parameter_groups(model: CLIPModel, weight_decay: float) -> list[dict]:
    """Decay matrices only; biases, norms, embeddings' positions and the temperature are left free."""
    decay, free = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        (decay if parameter.ndim >= 2 and "position" not in name else free).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": free, "weight_decay": 0.0}]


def _autocast(device: torch.device):
    """Mixed precision on CUDA (bf16 where supported, else fp16); full precision on CPU."""
    if device.type != "cuda":
        return nullcontext(), None
    if torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16), None
    return torch.autocast("cuda", dtype=torch.float16), torch.amp.GradScaler("cuda")


def _pick_texts(pairs: EncodedPairs, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One random text row per image in ``batch``: text template resampling."""
    starts, ends = pairs.text_offsets[batch], pairs.text_offsets[batch + 1]
    return starts + (torch.rand(len(batch), generator=generator) * (ends - starts)).long()


def warmup_cosine(optimizer: torch.optim.Optimizer, schedule: Schedule,
                  total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """``schedule``'s learning rate over ``total_steps``: linear warm-up, then cosine decay to 5%."""
    warmup = max(1, int(total_steps * schedule.warmup_fraction))

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress_ = (step - warmup) / max(1, total_steps - warmup)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress_))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)


def train_contrastive(model: CLIPModel, pairs: EncodedPairs, schedule: Schedule, *, seed: int = 0,
                      device: str | torch.device = "cpu", progress: bool = True,
                      image_mean=CLIP_MEAN, image_std=CLIP_STD,
                      batches: Batches | None = None,
                      augment: Callable[[torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor] | None = None,
                      views: Callable[[torch.Tensor, torch.Tensor, torch.Generator],
                                      tuple[torch.Tensor, torch.Tensor]] | None = None,
                      view_weight: float = 0.5,
                      ) -> TrainingLog:
    """Train ``model`` in place with the symmetric InfoNCE loss (from scratch or fine-tuning); returns the log.

    Each epoch is cut into ``batches`` (any :class:`~.batching.Batches`; default: random,
    ``schedule.batch_size``); every image gets a randomly chosen text of its own and (if
    ``schedule.augment``) a random flip/shift/zoom/exposure.  Identical texts, and texts whose
    labels fit another image (see ``contrastive``), count as extra positives.  ``image_mean`` /
    ``image_std`` must be the processor's normalisation (for exposure augmentation).  ``augment``,
    a caller's own ``(pixels, batch rows, generator) -> pixels``, runs before that augmentation.
    ``views``, a caller's ``(pixels, batch rows, generator) -> (view pixels, positions)``, adds
    other views of some of the batch's images (a scene around the product, say): each is trained
    towards its own image among the batch's (``contrastive.view_loss``, ``view_weight`` of the loss),
    while the batch itself trains exactly as without them.
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    device = torch.device(device)
    model.to(device).train()
    batches = batches or RandomBatches(len(pairs), schedule.batch_size)
    total_steps = batches.steps_per_epoch * schedule.epochs
    optimizer = torch.optim.AdamW(_parameter_groups(model, schedule.weight_decay), lr=schedule.lr)
    scheduler = warmup_cosine(optimizer, schedule, total_steps)
    autocast, scaler = _autocast(device)
    log = TrainingLog()
    started = time.perf_counter()
    bar = tqdm(total=total_steps, desc="training", disable=not progress, mininterval=2.0)
    for _ in range(schedule.epochs):
        for batch in batches.epoch(generator):
            rows = _pick_texts(pairs, batch, generator)
            length = int(pairs.attention_mask[rows].sum(dim=1).max())  # trim padding columns
            input_ids = pairs.input_ids[rows, :length].to(device)
            attention_mask = pairs.attention_mask[rows, :length].to(device)
            pixels = pairs.pixel_values[batch].to(device).float()
            extra, positions = views(pixels, batch, generator) if views is not None else (pixels[:0], None)
            if schedule.augment and augment is not None:
                pixels = augment(pixels, batch, generator)
            if schedule.augment:
                pixels = augment_pixels(pixels, generator, mean=image_mean, std=image_std)
                if len(extra):
                    extra = augment_pixels(extra, generator, mean=image_mean, std=image_std)
            matches = same_text_matches(input_ids)
            if pairs.image_labels is not None and pairs.text_labels is not None:
                matches |= label_matches(pairs.image_labels[batch], pairs.text_labels[rows]).to(device)
            with autocast:
                images = model.get_image_features(pixel_values=torch.cat([pixels, extra])).pooler_output
                images, view_images = images[:len(batch)], images[len(batch):]
                texts = model.get_text_features(input_ids=input_ids, attention_mask=attention_mask).pooler_output
                loss = clip_loss(images, texts, model.logit_scale, matches)
                if len(view_images):
                    fits = None
                    if pairs.image_labels is not None:
                        labels = pairs.image_labels[batch]
                        fits = (labels[positions][:, None, :] == labels[None, :, :]).all(dim=-1)
                    loss = loss + view_weight * view_loss(view_images, images, model.logit_scale, positions, fits)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
            scheduler.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
            log.losses.append(float(loss.detach()))
            bar.update(1)
            bar.set_postfix(loss=f"{log.mean_loss(last=20):.3f}", refresh=False)
    bar.close()
    model.eval()
    log.seconds = time.perf_counter() - started
    return log
