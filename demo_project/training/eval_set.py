"""The demo's evaluation set for ``shop_clip_eval``: shopper queries with the attributes a relevant
product has, and scene photos of the demo store's products, of three kinds, labelled with what
they show and where.

    python -m demo_project.training.eval_set [--queries FILE] [--scenes DIR] [--count 40] [--seed 9160]
    python manage.py shop_clip_eval --queries demo_project/eval_queries.json --scenes var/look_scenes

The queries file is committed (``demo_project/eval_queries.json``, rewritten by this command); the
scene photos are generated into ``var/`` (the same seed gives the same bytes).

Scenes show products the model never saw in training, and name them, so the eval can ask for
the very product (the kinds of ``scenes.KINDS``):

- Only store products of a (colour, category) pair in ``HELD_OUT_PAIRS``: ``mini_data`` trains on
  ``generate_catalog(..., exclude_pairs=HELD_OUT_PAIRS)``, so no product of such a pair, in any
  pattern or rendering, reached training.  And of those, only products whose (category, colour,
  pattern) no other store product has: "the very product" is then one a shopper could tell apart.
- The scenes' own seed (``SCENE_SEED``) is none of training's (``TRAINING_SEEDS``: the recipe's
  seed for products, and one more for the text stream); ``write_look_scenes`` refuses them.

And one more kind, ``not_stocked``: flat-lays of products the store does not sell, each of a
(colour, category) pair the store holds no product of, drawn afresh from the scenes' seed.  A
shopper's photo often shows such a product; the right answer is then a group of its category
(the store's other colours of it), and the eval counts only categories found and spurious groups.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np

from .quality import CATALOG_SIZE, held_out_queries
from .scenes import KINDS, compose_scene
from .store_catalog import MEDIA_FOLDER, demo_store_products, image_name
from .synthetic import HELD_OUT_PAIRS, SyntheticProduct, all_pairs, make_product, sample_attributes
from .vocabulary import CATEGORIES
from .wording import query_for

DEMO_DIR = Path(__file__).resolve().parent.parent
QUERIES_FILE = DEMO_DIR / "eval_queries.json"
SCENES_DIR = Path(os.environ.get("SHOP_CLIP_DATA_DIR", DEMO_DIR.parent / "var")) / "look_scenes"
SCENES_FILE = "scenes.json"  # the name shop_clip.retrieval_eval.load_scenes reads
SCENE_SEED = 9160
TRAINING_SEEDS = (0, 1)  # train_mini.MiniRecipe.seed, and mini_data's text stream (seed + 1)
STORE_SEED = 0  # demo_catalog's default: the products the demo store holds
NOT_STOCKED = "not_stocked"  # flat-lays of products the store does not sell (module docstring)
EVAL_KINDS = (*KINDS, NOT_STOCKED)
NOT_STOCKED_POOL = 80  # products drawn for the not-stocked scenes: two or more of each category


def eval_queries() -> list[dict]:
    """The demo's queries: colour + pattern + category for each pair held out of training (the pattern
    the demo catalog has a dozen products of), every category, and every material of a category
    (words the copy says and the 32-pixel pictures barely show)."""
    queries = [{"query": query_for(query, "colour_pattern_category"),
                "relevant": {"colour": query["colour"], "pattern": query["pattern"], "category": query["category"]}}
               for query in held_out_queries()]
    queries += [{"query": category.query_name, "relevant": {"category": category.slug}} for category in CATEGORIES]
    queries += [{"query": f"{material} {category.query_name}", "relevant": {"material": material,
                                                                            "category": category.slug}}
                for category in CATEGORIES for material in category.materials]
    return queries


def write_eval_queries(path: str | Path = QUERIES_FILE) -> Path:
    """Write :func:`eval_queries` to ``path``, one query a line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[\n" + ",\n".join(json.dumps(query) for query in eval_queries()) + "\n]\n")
    return path


@lru_cache(maxsize=1)
def _store(store_size: int, store_seed: int) -> tuple[SyntheticProduct, ...]:
    return tuple(demo_store_products(store_size, store_seed))


def scene_products(store_size: int = CATALOG_SIZE, store_seed: int = STORE_SEED) -> list[tuple[str, SyntheticProduct]]:
    """The store's products a scene may show (see the module docstring), each with the name its
    photo is saved under: ``(file name, product)``, in store order."""
    store = _store(store_size, store_seed)
    looks = Counter((p.attributes["category"], p.attributes["colour"], p.attributes["pattern"]) for p in store)
    return [(image_name(store_seed, index), product) for index, product in enumerate(store)
            if (product.attributes["colour"], product.attributes["category"]) in HELD_OUT_PAIRS
            and looks[product.attributes["category"], product.attributes["colour"], product.attributes["pattern"]] == 1]


def not_stocked_products(seed: int = SCENE_SEED, count: int = NOT_STOCKED_POOL, store_size: int = CATALOG_SIZE,
                         store_seed: int = STORE_SEED) -> list[SyntheticProduct]:
    """``count`` new products, each of a (colour, category) pair the store holds no product of."""
    held = {(p.attributes["colour"], p.attributes["category"]) for p in _store(store_size, store_seed)}
    pairs = [pair for pair in all_pairs() if pair not in held]
    if not pairs:
        raise ValueError("the store holds every (colour, category) pair: no product it does not stock to show")
    rng = np.random.default_rng([seed, EVAL_KINDS.index(NOT_STOCKED), 1])
    return [make_product(sample_attributes(rng, pairs), rng) for _ in range(count)]


def write_look_scenes(directory: str | Path = SCENES_DIR, count: int = 40, seed: int = SCENE_SEED, *,
                      kinds: tuple[str, ...] = EVAL_KINDS, store_size: int = CATALOG_SIZE,
                      store_seed: int = STORE_SEED) -> Path:
    """Write ``count`` scenes of each of ``kinds`` (``EVAL_KINDS``), each of 2-4 products of
    distinct categories, as JPEG, with ``scenes.json`` naming each photo's kind and its products:
    attributes, where the photo shows it (``box``) and, for the store's own products, how to find
    it in the store (``lookup``, ORM lookups on the product).  Returns the directory."""
    if seed in TRAINING_SEEDS:
        raise ValueError(f"seed {seed} is one training uses {TRAINING_SEEDS}: scenes need their own")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    scenes = []
    for kind in kinds:
        if kind == NOT_STOCKED:  # the store's other colours of the category are the right answer
            pool = [(None, product) for product in not_stocked_products(seed, store_size=store_size,
                                                                         store_seed=store_seed)]
        else:
            pool = scene_products(store_size, store_seed)
        rng = np.random.default_rng([seed, EVAL_KINDS.index(kind)])  # one stream per kind: kinds can be left out
        for number in range(count):
            chosen: list[tuple[str, SyntheticProduct]] = []
            wanted = int(rng.integers(2, 5))
            for index in rng.permutation(len(pool)):
                if all(pool[index][1].attributes["category"] != other.attributes["category"] for _, other in chosen):
                    chosen.append(pool[index])
                    if len(chosen) == wanted:
                        break
            composition = "flat_lay" if kind == NOT_STOCKED else kind
            photo, boxes, quality = compose_scene(composition, [product for _, product in chosen], rng)
            name = f"{kind}-{number:03d}.jpg"
            (directory / name).write_bytes(photo)
            scenes.append({"image": name, "kind": kind, "jpeg_quality": quality,
                           "products": [_label(file_name, product, box)
                                        for (file_name, product), box in zip(chosen, boxes, strict=True)]})
    (directory / SCENES_FILE).write_text(json.dumps(scenes, indent=1) + "\n")
    return directory


def _label(file_name: str | None, product: SyntheticProduct, box) -> dict:
    """What ``scenes.json`` says of one product in a photo.  A product the store does not stock
    has no lookup, and no colour: no product of its colour can be the group's first."""
    label = {key: product.attributes[key] for key in ("category", "colour", "pattern")}
    label["box"] = [round(value, 4) for value in box]
    if file_name is None:
        del label["colour"]
    else:
        label["lookup"] = {"image__startswith": MEDIA_FOLDER + file_name.removesuffix(".jpg")}
    return label


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=Path, default=QUERIES_FILE, help="queries file to write")
    parser.add_argument("--scenes", type=Path, default=SCENES_DIR, help="directory for the scene photos")
    parser.add_argument("--count", type=int, default=40, help="scene photos of each kind (0: none)")
    parser.add_argument("--seed", type=int, default=SCENE_SEED)
    args = parser.parse_args(argv)
    print(f"wrote {write_eval_queries(args.queries)}")
    if args.count:
        print(f"wrote {args.count} scenes of each kind ({', '.join(EVAL_KINDS)}) to "
              f"{write_look_scenes(args.scenes, args.count, args.seed)}")


if __name__ == "__main__":
    main()
