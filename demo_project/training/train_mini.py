"""Train the bundled shop-clip-mini from scratch on the synthetic catalog.

    python -m demo_project.training.train_mini --output shop_clip/pretrained/shop-clip-mini

Fixed seeds; HELD_OUT_PAIRS never reach training.  Then shop the look's region tower
(``train_look_regions.tower_for``); ends with the held-out evaluation.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from shop_clip.encoders.sentence_transformers import REGIONS_DIR
from shop_clip.training.training_loop import Schedule, TrainingLog, train_contrastive

from .look_alike_batches import LookAlikeBatches
from .mini_data import build_training_pairs, tokenizer_corpus
from .mini_model import MiniClipSize, build_mini_clip, describe_size
from .region_tower import RegionRecipe
from .scene_augmentation import SceneAugmentation
from .st_format import save_sentence_transformer
from .tokenizer import build_word_tokenizer


@dataclass(frozen=True)
class MiniRecipe:
    """Everything that decides the bundled model; the defaults are what ships."""

    products: int = 10000
    render_size: int = 128  # the processor shrinks to 32 px anyway; 128 renders 2x faster than 256
    schedule: Schedule = Schedule(epochs=24, batch_size=128, lr=1e-3)
    group_size: int = 4  # look-alike groups per batch: see ``look_alike_batches``
    size: MiniClipSize = MiniClipSize()
    scene_share: float = 0.0  # of each batch in a generated scene; 0 ships: 0.5 cost look-alikes (see docs/training.md)
    scene_views: float = 0.0  # of each batch also seen in a scene, paired with its catalog photo
    scene_epochs: int | None = None  # scenes in the first this many epochs only (None: all)
    seed: int = 0
    region_tower: RegionRecipe | None = RegionRecipe()  # shop the look's second image tower (None: none)


def train_mini(output: str | Path, recipe: MiniRecipe = MiniRecipe(), *, device: str = "cpu",
               progress: bool = True) -> TrainingLog:
    """Generate data, train a fresh mini CLIP and save it in sentence-transformers format to
    ``output``; then its region tower, in ``output``'s ``look_regions``, from the same data."""
    torch.manual_seed(recipe.seed)
    tokenizer = build_word_tokenizer(tokenizer_corpus(recipe.seed), recipe.size.max_text_length)
    model, processor = build_mini_clip(tokenizer, recipe.size)
    started = time.perf_counter()
    pairs, attributes, masks = build_training_pairs(processor, recipe.products, recipe.seed, recipe.render_size)
    batches = LookAlikeBatches(attributes, recipe.schedule.batch_size, recipe.group_size)
    if progress:
        print(f"{len(pairs)} products, {pairs.input_ids.shape[0]} texts, vocabulary {len(tokenizer)}, "
              f"prepared in {time.perf_counter() - started:.0f}s")
    mean, std = processor.image_processor.image_mean, processor.image_processor.image_std
    scene_batches = None if recipe.scene_epochs is None else recipe.scene_epochs * batches.steps_per_epoch
    log = train_contrastive(model, pairs, recipe.schedule, seed=recipe.seed, device=device, progress=progress,
                            image_mean=mean, image_std=std, batches=batches,
                            augment=SceneAugmentation(masks, share=recipe.scene_share, mean=mean, std=std,
                                                      batches=scene_batches)
                            if recipe.scene_share else None,
                            views=SceneAugmentation(masks, share=recipe.scene_views, mean=mean, std=std,
                                              batches=scene_batches).views
                            if recipe.scene_views else None)
    save_sentence_transformer(model.cpu(), processor, output)
    if recipe.region_tower is not None:
        from .train_look_regions import tower_for  # it imports MiniRecipe from here

        tower_for(model, processor, pairs, masks, recipe, recipe.region_tower, Path(output) / REGIONS_DIR,
                  progress=progress)
    return log


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", required=True, help="directory to write the model to")
    parser.add_argument("--products", type=int, default=MiniRecipe.products)
    parser.add_argument("--epochs", type=int, default=MiniRecipe.schedule.epochs)
    parser.add_argument("--batch-size", type=int, default=MiniRecipe.schedule.batch_size)
    parser.add_argument("--lr", type=float, default=MiniRecipe.schedule.lr)
    parser.add_argument("--seed", type=int, default=MiniRecipe.seed)
    parser.add_argument("--scene-share", type=float, default=MiniRecipe.scene_share,
                        help="share of each batch put in a generated scene (0: catalog photos only)")
    parser.add_argument("--scene-views", type=float, default=MiniRecipe.scene_views,
                        help="share of each batch also seen in a generated scene and trained towards its "
                             "catalog photo (0: none)")
    parser.add_argument("--scene-epochs", type=int, default=MiniRecipe.scene_epochs,
                        help="scenes in the first this many epochs only, the catalog alone after (default: all)")
    parser.add_argument("--image-size", type=int, default=MiniClipSize.image_size,
                        help="the vision tower's input side in pixels (a probe of a model that sees more)")
    parser.add_argument("--patch-size", type=int, default=MiniClipSize.patch_size)
    parser.add_argument("--region-scenes", type=int, default=RegionRecipe.live_scenes,
                        help="training scenes the region tower learns from (0: no region tower)")
    parser.add_argument("--region-epochs", type=int, default=RegionRecipe.schedule.epochs)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1),
                        help="CPU threads for torch (default 2: the reference machine's cores)")
    parser.add_argument("--skip-eval", action="store_true", help="do not run the held-out evaluation")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)

    size = replace(MiniRecipe.size, image_size=args.image_size, patch_size=args.patch_size)
    tower = RegionRecipe(live_scenes=args.region_scenes,
                         schedule=replace(RegionRecipe.schedule, epochs=args.region_epochs))
    recipe = MiniRecipe(products=args.products, seed=args.seed, scene_share=args.scene_share,
                        scene_views=args.scene_views, scene_epochs=args.scene_epochs, size=size,
                        schedule=Schedule(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr),
                        region_tower=tower if args.region_scenes else None)
    print("model size:", describe_size(recipe.size))
    started = time.perf_counter()
    log = train_mini(args.output, recipe, device=args.device)
    print(f"trained {log.steps} steps in {log.seconds:.0f}s; loss {log.mean_loss(first=20):.3f} -> "
          f"{log.mean_loss(last=20):.3f}; total {time.perf_counter() - started:.0f}s; saved to {args.output}")
    if not args.skip_eval:
        from .quality import format_table, measure_quality

        print(format_table(measure_quality(str(args.output))))


if __name__ == "__main__":
    main()
