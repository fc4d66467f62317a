"""Print the bundled model's quality against the targets.

    python -m demo_project.training.check_mini [--model DIR]

Exits with status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import shop_clip

# The bundled model ships inside the installed app; only its training recipe lives with the demo.
DEFAULT_MODEL = Path(shop_clip.__file__).resolve().parent / "pretrained" / "shop-clip-mini"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="sentence-transformers CLIP directory")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from .quality import CATALOG_SIZE, EVAL_SEED, format_table, measure_quality

    started = time.perf_counter()
    metrics = measure_quality(args.model)
    print(f"model: {args.model}\ncatalogs: 2 x {CATALOG_SIZE} products, seeds {EVAL_SEED} and {EVAL_SEED + 1} "
          "(training uses seed 0)\n")
    print(format_table(metrics))
    print(f"\n({time.perf_counter() - started:.0f}s)")
    return 0 if all(metric.passed is not False for metric in metrics) else 1


if __name__ == "__main__":
    sys.exit(main())
