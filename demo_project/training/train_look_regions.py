"""Train a region tower for shop-clip-mini: its image tower, retrained for shop the look's regions.

    python -m demo_project.training.train_look_regions --model DIR   # a copy of the model: it writes DIR/look_regions
    python bench/look_oracle.py shop_clip/pretrained/shop-clip-mini DIR

``train_mini`` trains the shipped tower right after the model (``tower_for``); this command trains
one for a model already saved.  The tower learns from the crops the app's own regions cut from
training scenes (``live_crops``), each towards its product's catalog vector and, for half its
target, its category's (docs/decisions/shop-the-look-scenes.md).  The catalog's vectors stay the
model's own; the tower goes to ``<model>/look_regions``, which the app's encoder reads regions
with (``encode_regions``) and leaves out of the model's id.  It trains on the same synthetic
catalog as ``train_mini`` (HELD_OUT_PAIRS and the demo store never reach it); ``--live-scenes 0``
trains on ``scene_augmentation``'s views instead.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
from transformers import CLIPModel, CLIPProcessor

from shop_clip.encoders.sentence_transformers import REGIONS_DIR
from shop_clip.training.pairs import EncodedPairs
from shop_clip.training.training_loop import Schedule, TrainingLog

from .live_crops import live_crops
from .mini_data import LABELLED, build_training_pairs
from .region_tower import RegionRecipe, catalog_vectors, region_tower, train_region_tower
from .scene_augmentation import SceneAugmentation
from .scenes import checked_kinds
from .st_format import load_clip_parts, save_sentence_transformer
from .train_mini import MiniRecipe


def train_look_regions(model_dir: str | Path, output: str | Path | None = None, recipe: RegionRecipe = RegionRecipe(),
                       *, mini: MiniRecipe = MiniRecipe(), progress: bool = True) -> TrainingLog:
    """Train a region tower for the model at ``model_dir``, trained by ``mini``; save it to ``output``
    (default ``<model>/look_regions``)."""
    model, processor = load_clip_parts(model_dir)
    started = time.perf_counter()
    pairs, _, masks = build_training_pairs(processor, mini.products, mini.seed, mini.render_size)
    if progress:
        print(f"{len(pairs)} products prepared in {time.perf_counter() - started:.0f}s")
    output = Path(output) if output else Path(model_dir) / REGIONS_DIR
    return tower_for(model, processor, pairs, masks, mini, recipe, output, progress=progress)


def tower_for(model: CLIPModel, processor: CLIPProcessor, pairs: EncodedPairs, masks, mini: MiniRecipe,
              recipe: RegionRecipe, output: Path, *, progress: bool = True) -> TrainingLog:
    """Train and save to ``output`` a region tower for ``model``, trained by ``mini`` on ``pairs``
    (its catalog, with ``masks``); ``train_mini`` calls it with what it has just trained on."""
    torch.manual_seed(recipe.seed)
    started = time.perf_counter()
    targets = catalog_vectors(model, pairs.pixel_values)
    mean, std = processor.image_processor.image_mean, processor.image_processor.image_std
    tower = region_tower(model)
    pixels, owners = pairs.pixel_values, None
    views = SceneAugmentation(masks, share=recipe.scene_share, mean=mean, std=std)
    if recipe.live_scenes:
        crops, crop_owners = live_crops(processor, mini.products, mini.seed, mini.render_size, recipe.live_scenes,
                                        kinds=recipe.scene_kinds, halved_blobs=recipe.halved_blobs,
                                        progress=progress)
        if progress:
            print(f"{len(crops)} crops of {len(crop_owners.unique())} products from {recipe.live_scenes} scenes")
        photos = torch.arange(len(pairs))
        if recipe.catalog_photos is not None:
            photos = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(recipe.seed))[
                :recipe.catalog_photos].sort().values
        pixels = torch.cat([crops, pairs.pixel_values[photos]])
        owners = torch.cat([crop_owners, photos])
        views = _as_they_are
    log = train_region_tower(tower, pixels, targets, pairs.image_labels, views, recipe.schedule,
                             logit_scale=float(model.logit_scale.exp()), seed=recipe.seed, image_mean=mean,
                             image_std=std, progress=progress, owners=owners,
                             kin=pairs.image_labels[:, LABELLED.index("category")], kin_share=recipe.category_share)
    save_sentence_transformer(tower, processor, output)
    if progress:
        print(f"region tower: {log.steps} steps in {log.seconds:.0f}s, {time.perf_counter() - started:.0f}s in all; "
              f"loss {log.mean_loss(first=20):.3f} -> {log.mean_loss(last=20):.3f}; saved to {output}")
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
    parser.add_argument("--scene-kinds", default=",".join(RegionRecipe.scene_kinds),
                        help="the live scenes' kinds, taken in turn; name one twice for twice its scenes")
    parser.add_argument("--halved-blobs", type=int, default=RegionRecipe.halved_blobs,
                        help="the live crops' largest blobs also looked at as halves, as the app looks at "
                             "LOOK_SPLIT_BLOBS of them (default 0: none)")
    parser.add_argument("--category-share", type=float, default=RegionRecipe.category_share,
                        help="share of each crop's target spread over its category's products")
    parser.add_argument("--catalog-photos", type=int, default=RegionRecipe.catalog_photos,
                        help="catalog photos trained on beside the live crops (default: all)")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1),
                        help="CPU threads for torch (default 2: the reference machine's cores)")
    args = parser.parse_args(argv)
    try:
        kinds = checked_kinds([kind.strip() for kind in args.scene_kinds.split(",") if kind.strip()])
    except ValueError as error:
        parser.error(f"--scene-kinds (comma-separated): {error}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    recipe = RegionRecipe(schedule=Schedule(epochs=args.epochs, batch_size=RegionRecipe.schedule.batch_size,
                                            lr=args.lr), scene_share=args.scene_share,
                          live_scenes=args.live_scenes, scene_kinds=kinds, halved_blobs=args.halved_blobs,
                          category_share=args.category_share,
                          catalog_photos=args.catalog_photos)
    started = time.perf_counter()
    log = train_look_regions(args.model, args.output, recipe)
    print(f"trained {log.steps} steps in {log.seconds:.0f}s; loss {log.mean_loss(first=20):.3f} -> "
          f"{log.mean_loss(last=20):.3f}; total {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
