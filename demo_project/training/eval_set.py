"""The demo's evaluation set for ``shop_clip_eval``: shopper queries with the attributes a relevant
product has, and flat-lay photos of new products labelled with what they show.

    python -m demo_project.training.eval_set [--queries FILE] [--scenes DIR] [--count 60] [--seed 0]
    python manage.py shop_clip_eval --queries demo_project/eval_queries.json --scenes var/look_scenes

The queries file is committed (``demo_project/eval_queries.json``, rewritten by this command); the
scene photos are generated into ``var/`` (the same seed gives the same bytes).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from .quality import held_out_queries
from .synthetic import generate_flat_lays
from .vocabulary import CATEGORIES
from .wording import query_for

DEMO_DIR = Path(__file__).resolve().parent.parent
QUERIES_FILE = DEMO_DIR / "eval_queries.json"
SCENES_DIR = Path(os.environ.get("SHOP_CLIP_DATA_DIR", DEMO_DIR.parent / "var")) / "look_scenes"
SCENES_FILE = "scenes.json"  # the name shop_clip.retrieval_eval.load_scenes reads


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


def write_look_scenes(directory: str | Path = SCENES_DIR, count: int = 60, seed: int = 0) -> Path:
    """Write ``count`` flat-lay photos of 1-5 new products of distinct categories (never in the
    catalog) as JPEG, with ``scenes.json`` naming each photo's products; returns the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    scenes = []
    for number, (photo, items, _) in enumerate(generate_flat_lays(count, seed)):
        name = f"scene-{number:03d}.jpg"
        photo.save(directory / name, "JPEG", quality=90)  # what a store's upload looks like
        scenes.append({"image": name, "products": items})
    (directory / SCENES_FILE).write_text(json.dumps(scenes, indent=1) + "\n")
    return directory


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=Path, default=QUERIES_FILE, help="queries file to write")
    parser.add_argument("--scenes", type=Path, default=SCENES_DIR, help="directory for the scene photos")
    parser.add_argument("--count", type=int, default=60, help="scene photos (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"wrote {write_eval_queries(args.queries)}")
    if args.count:
        print(f"wrote {args.count} scenes to {write_look_scenes(args.scenes, args.count, args.seed)}")


if __name__ == "__main__":
    main()
