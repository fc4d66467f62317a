"""A second image tower for shop the look's regions, trained into a fixed catalog space.

The catalog's vectors come from the model's own image tower and must not move: every stored
vector, look-alike and search result depends on them.  A region of a shopper's photo is another
kind of image (smaller, cut off, on a busy backdrop), and a small model trained on catalog photos
reads it poorly.  This trains a copy of the image tower on such views of the catalog's products,
each towards its own product's catalog vector among all the catalog's, so a region lands where its
product's photo lies in the unchanged space (docs/decisions/shop-the-look-scenes.md).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import CLIPModel

from shop_clip.training.augmentation import CLIP_MEAN, CLIP_STD, augment_pixels
from shop_clip.training.batching import RandomBatches
from shop_clip.training.contrastive import MAX_LOGIT_SCALE
from shop_clip.training.training_loop import Schedule, TrainingLog, warmup_cosine

from .scenes import KINDS


@dataclass(frozen=True)
class RegionRecipe:
    """Everything that decides the region tower; the defaults ship (docs/decisions/shop-the-look-scenes.md)."""

    schedule: Schedule = Schedule(epochs=3, batch_size=128, lr=1e-3)
    live_scenes: int = 1000  # > 0: the live regions' crops of this many scenes (``live_crops``); 0: scene_share
    scene_kinds: tuple[str, ...] = KINDS  # the live scenes' kinds in turn: a kind named twice gets twice the scenes
    category_share: float = 0.5  # of each view's target spread over its category's products (``train_region_tower``)
    halved_blobs: int | None = 0  # the live crops' largest blobs also halved (None: as the app, LOOK_SPLIT_BLOBS)
    catalog_photos: int | None = 2000  # catalog photos trained on beside the crops (None: all), which must land home
    scene_share: float = 0.75  # with live_scenes 0: of each batch in a ``scene_augmentation`` scene
    seed: int = 0


@torch.no_grad()
def catalog_vectors(model: CLIPModel, pixels: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Unit image vectors of ``pixels`` (N, 3, H, W) by ``model``'s own tower, in eval mode."""
    model.eval()
    parts = [model.get_image_features(pixel_values=pixels[start:start + batch_size].float()).pooler_output
             for start in range(0, len(pixels), batch_size)]
    return F.normalize(torch.cat(parts).float(), dim=-1)


def region_tower(model: CLIPModel) -> CLIPModel:
    """A copy of ``model`` whose image tower alone trains (its text side is never used)."""
    tower = copy.deepcopy(model)
    for name, parameter in tower.named_parameters():
        parameter.requires_grad = name.startswith(("vision_model.", "visual_projection."))
    return tower


def train_region_tower(tower: CLIPModel, pixels: torch.Tensor, targets: torch.Tensor, labels: torch.Tensor,
                       views: Callable[[torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor],
                       schedule: Schedule, *, logit_scale: float, seed: int = 0, image_mean=CLIP_MEAN,
                       image_std=CLIP_STD, progress: bool = True, owners: torch.Tensor | None = None,
                       kin: torch.Tensor | None = None, kin_share: float = 0.0) -> TrainingLog:
    """Train ``tower``'s image side in place so its vector of a view of product ``i`` is nearest ``targets[i]``.

    ``pixels``: the catalog's photos (N, 3, H, W), normalised; ``targets``: their unit vectors in
    the fixed space (``catalog_vectors``); ``labels``: (N, A) attributes, where products with all
    the same attributes count as right answers too (two red striped scarves cannot be told
    apart).  ``views(pixels, rows, generator)`` turns a batch of photos into the views to train
    on (scenes, crops; some may stay as they are).  Each view is scored against all N targets at
    ``logit_scale``, so every step compares it with the whole catalog, not only the batch.
    ``owners``: where ``pixels`` are other images than the catalog's (crops), each one's catalog row.
    ``kin`` (N,) and ``kin_share``: that share of each view's target is spread over the products of
    its kin (its category), so a view lands among them, not only on its very product.
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    tower.train()
    batches = RandomBatches(len(pixels), schedule.batch_size)
    total_steps = batches.steps_per_epoch * schedule.epochs
    optimizer = torch.optim.AdamW([p for p in tower.parameters() if p.requires_grad], lr=schedule.lr,
                                  weight_decay=schedule.weight_decay)
    scheduler = warmup_cosine(optimizer, schedule, total_steps)
    scale = math.exp(min(math.log(logit_scale), MAX_LOGIT_SCALE))
    targets = F.normalize(targets.float(), dim=-1)
    log = TrainingLog()
    started = time.perf_counter()
    bar = tqdm(total=total_steps, desc="region tower", disable=not progress, mininterval=2.0)
    for _ in range(schedule.epochs):
        for picked in batches.epoch(generator):
            rows = picked if owners is None else owners[picked]
            batch = views(pixels[picked].float(), rows, generator)
            if schedule.augment:
                batch = augment_pixels(batch, generator, mean=image_mean, std=image_std)
            vectors = F.normalize(tower.get_image_features(pixel_values=batch).pooler_output.float(), dim=-1)
            right = (labels[rows][:, None, :] == labels[None, :, :]).all(dim=-1)
            right[torch.arange(len(rows)), rows] = True
            goal = right.float() / right.sum(dim=1, keepdim=True)
            if kin is not None and kin_share:
                same = (kin[rows][:, None] == kin[None, :]).float()
                goal = (1 - kin_share) * goal + kin_share * same / same.sum(dim=1, keepdim=True)
            loss = F.cross_entropy(scale * vectors @ targets.T, goal)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(tower.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            log.losses.append(float(loss.detach()))
            bar.update(1)
            bar.set_postfix(loss=f"{log.losses[-1]:.3f}", refresh=False)
    bar.close()
    log.seconds = time.perf_counter() - started
    tower.eval()
    return log
