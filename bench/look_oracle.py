"""Shop the look with perfect regions: how far the model alone carries each kind of scene.

    python bench/look_oracle.py [MODEL_DIR ...] [--json bench/results/look_oracle.json]

For every product of the demo's eval scenes (``demo_project.training.eval_set``: the same photos
``shop_clip_eval --scenes`` measures), the square ``regions`` crops round its true box (its padding,
kept inside the photo) is encoded and compared with the demo store's 600 products (plain numpy
cosine, no database): whether the nearest names its category, and whether the very product is among the
five nearest of its category.  A model with a region tower (``<model>/look_regions``) embeds the
crops with it, as the encoder does.  The gap between these figures and ``shop_clip_eval``'s is what
region proposals lose; what these figures miss is the model's.  Several models are measured in
one run, on the same crops.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.support import RESULTS, machine, print_table, write_json  # noqa: E402

BUNDLED = Path(__file__).resolve().parent.parent / "shop_clip" / "pretrained" / "shop-clip-mini"


def oracle_crops(scenes_dir: Path):
    """``(kind, crop, category, photo file name)`` for every product of every scene."""
    from PIL import Image

    from shop_clip.regions import _padded_square, crop

    for scene in json.loads((scenes_dir / "scenes.json").read_text()):
        photo = Image.open(scenes_dir / scene["image"]).convert("RGB")
        width, height = photo.size
        for item in scene["products"]:
            x0, y0, x1, y1 = item["box"]
            square = _padded_square(x0 * width, y0 * height, x1 * width, y1 * height, width, height)
            lookup = item.get("lookup")  # none for a product the store does not stock: only its category can be right
            yield (scene["kind"], crop(photo, square), item["category"],
                   lookup["image__startswith"].split("/")[-1] if lookup else None)


def measure(model_dir: str, store, crops) -> dict[str, dict[str, float]]:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_dir, device="cpu")
    from shop_clip.encoders.sentence_transformers import REGIONS_DIR

    regions_dir = Path(model_dir) / REGIONS_DIR  # the region tower, where the model has one
    regions = SentenceTransformer(str(regions_dir), device="cpu") if regions_dir.is_dir() else model
    catalog = model.encode([product.image for _, product in store], batch_size=64, normalize_embeddings=True)
    categories = np.array([product.attributes["category"] for _, product in store])
    names = [name.removesuffix(".jpg") for name, _ in store]
    vectors = regions.encode([crop for _, crop, _, _ in crops], batch_size=64, normalize_embeddings=True)
    counts: dict[str, list[int]] = {}
    for vector, (kind, _, category, name) in zip(vectors, crops, strict=True):
        order = np.argsort(-(catalog @ vector))
        same = [index for index in order if categories[index] == category][:5]
        tally = counts.setdefault(kind, [0, 0, 0, 0])
        tally[0] += 1
        tally[1] += int(categories[order[0]] == category)
        if name is not None:
            tally[2] += 1
            tally[3] += int(names.index(name) in same)
    return {kind: {"products": n, "category": round(right / n, 3),
                   "exact_at_5": round(exact / stocked, 3) if stocked else None}
            for kind, (n, right, stocked, exact) in counts.items()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", default=[str(BUNDLED)], help="sentence-transformers CLIP directories")
    parser.add_argument("--json", type=Path, default=RESULTS / "look_oracle.json")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from demo_project.training.eval_set import write_look_scenes
    from demo_project.training.store_catalog import demo_store_products, image_name

    started = time.perf_counter()
    store = [(image_name(0, index), product) for index, product in enumerate(demo_store_products(600, 0))]
    with tempfile.TemporaryDirectory() as scenes:
        crops = list(oracle_crops(write_look_scenes(scenes)))
    results = {model: measure(model, store, crops) for model in args.models}
    rows = [[Path(model).name, kind, figures["products"], figures["category"], figures["exact_at_5"]]
            for model, kinds in results.items() for kind, figures in kinds.items()]
    print_table("shop the look on the true boxes, cropped as regions crops: the model's share of the errors",
                ["model", "kind", "products", "category right", "exact in first 5"], rows)
    data = {"benchmark": "look_oracle", "command": "python bench/look_oracle.py " + " ".join(argv or sys.argv[1:]),
            "when": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine(), "models": results,
            "elapsed_s": round(time.perf_counter() - started, 1)}
    write_json(args.json, data)
    return data


if __name__ == "__main__":
    main()
