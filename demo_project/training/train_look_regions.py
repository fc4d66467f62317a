"""Train a region tower for shop-clip-mini: its image tower, retrained for shop the look's regions.

    python -m demo_project.training.train_look_regions --model DIR   # a copy of the model: it writes DIR/look_regions
    python bench/look_oracle.py shop_clip/pretrained/shop-clip-mini DIR

Tried for issue #16 and not shipped (docs/decisions/shop-the-look-scenes.md): trained on the crops
the app's own regions cut from training scenes (``live_crops``, the default), it found 0.967 of the
demo store's flat-lay and collage products, but fewer categories than the model's own tower in a
store that lacks the photographed products.  The catalog's vectors stay the model's own; the tower
goes to ``<model>/look_regions`` (a sentence-transformers directory, only its image side used),
where ``bench/look_oracle.py`` embeds the crops with it.  It trains on the same synthetic catalog
as ``train_mini`` (HELD_OUT_PAIRS and the demo store never reach it); ``--live-scenes 0`` trains on
``scene_augmentation``'s views instead.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from shop_clip.training.training_loop import Schedule, TrainingLog

from .live_crops import live_crops
from .mini_data import build_training_pairs
from .region_tower import catalog_vectors, region_tower, train_region_tower
from .scene_augmentation import SceneAugmentation
from .st_format import load_clip_parts, save_sentence_transformer
from .train_mini import MiniRecipe

REGIONS_DIR = "look_regions"


@dataclass(frozen=True)
class RegionRecipe:
    """Everything that decides the region tower; the defaults are the last run in the record."""

    schedule: Schedule = Schedule(epochs=4, batch_size=128, lr=1e-3)
    scene_share: float = 0.75  # of each batch in a scene; the rest stay catalog photos, which must still land home
    live_scenes: int = 1500  # > 0: the live regions' crops of this many scenes (``live_crops``); 0: scene_share
    seed: int = 0


def train_look_regions(model_dir: str | Path, output: str | Path | None = None, recipe: RegionRecipe = RegionRecipe(),
                       *, progress: bool = True) -> TrainingLog:
    """Train a region tower for the model at ``model_dir``; save it to ``output`` (default ``<model>/look_regions``)."""
    torch.manual_seed(recipe.seed)
    model, processor = load_clip_parts(model_dir)
    started = time.perf_counter()
    mini = MiniRecipe()
    pairs, _, masks = build_training_pairs(processor, mini.products, mini.seed, mini.render_size)
    targets = catalog_vectors(model, pairs.pixel_values)
    if progress:
        print(f"{len(pairs)} products and their catalog vectors, prepared in {time.perf_counter() - started:.0f}s")
    mean, std = processor.image_processor.image_mean, processor.image_processor.image_std
    tower = region_tower(model)
    pixels, owners = pairs.pixel_values, None
    views = SceneAugmentation(masks, share=recipe.scene_share, mean=mean, std=std)
    if recipe.live_scenes:
        crops, crop_owners = live_crops(processor, mini.products, mini.seed, mini.render_size, recipe.live_scenes,
                                        progress=progress)
        if progress:
            print(f"{len(crops)} crops of {len(crop_owners.unique())} products from {recipe.live_scenes} scenes")
        pixels = torch.cat([crops, pairs.pixel_values])  # with the catalog's photos, which must still land home
        owners = torch.cat([crop_owners, torch.arange(len(pairs))])
        views = _as_they_are
    log = train_region_tower(tower, pixels, targets, pairs.image_labels, views, recipe.schedule,
                             logit_scale=float(model.logit_scale.exp()), seed=recipe.seed, image_mean=mean,
                             image_std=std, progress=progress, owners=owners)
    save_sentence_transformer(tower, processor, Path(output) if output else Path(model_dir) / REGIONS_DIR)
    return log


def _as_they_are(pixels: torch.Tensor, rows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return pixels


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="the sentence-transformers CLIP directory to train a tower for")
    parser.add_argument("--output", help=f"where to write the tower (default: <model>/{REGIONS_DIR})")
    parser.add_argument("--epochs", type=int, default=RegionRecipe.schedule.epochs)
    parser.add_argument("--lr", type=float, default=RegionRecipe.schedule.lr)
    parser.add_argument("--scene-share", type=float, default=RegionRecipe.scene_share)
    parser.add_argument("--live-scenes", type=int, default=RegionRecipe.live_scenes,
                        help="train on the live regions' crops of this many training scenes instead (0: none)")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1),
                        help="CPU threads for torch (default 2: the reference machine's cores)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    recipe = RegionRecipe(schedule=Schedule(epochs=args.epochs, batch_size=RegionRecipe.schedule.batch_size,
                                            lr=args.lr), scene_share=args.scene_share,
                          live_scenes=args.live_scenes)
    started = time.perf_counter()
    log = train_look_regions(args.model, args.output, recipe)
    print(f"trained {log.steps} steps in {log.seconds:.0f}s; loss {log.mean_loss(first=20):.3f} -> "
          f"{log.mean_loss(last=20):.3f}; total {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
