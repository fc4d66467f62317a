"""Does the pipeline scale with claims in flight?  One catalog, several pipeline settings, one run.

The first GPU check (docs/performance.md) found the CUDA pipeline far below the bare model, with
PostgreSQL's HNSW inserts (about 1.5 ms a vector on one connection) and decoding as the limits.
Each claim in flight writes on its own connection, so its HNSW inserts run in a PostgreSQL backend
of their own: this measures the pipeline (``process_pending``) at several (claims in flight,
reader threads, claim size) settings, alternating in rounds, against the bare model.

    python bench/gpu/lanes.py --device cuda --images 2048 --json $OUT/lanes.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.indexing import (  # noqa: E402
    bare_model_rate,
    build_vit_b32,
    decoded_images,
    machine_description,
    make_catalog,
    phase_table,
    pipeline_rate,
    setup_django,
)

SETTINGS = [(1, 4, 1024), (2, 8, 512), (4, 8, 256), (8, 16, 256)]  # (claims in flight, readers, claim size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "lanes.json")
    args = parser.parse_args()
    setup_django()
    from django.test import override_settings

    from shop_clip.encoders import get_encoder
    from shop_clip.models import EmbeddingSpace
    from shop_clip.spaces import configured_space

    model = str(build_vit_b32(ROOT / "var" / "bench-models" / "vit-b-32"))
    base = {"ENCODER": {"MODEL": model, "DEVICE": args.device, "BATCH_SIZE": args.batch}, "ENQUEUE_ON_SAVE": False}
    with override_settings(SHOP_CLIP=base):
        encoder = get_encoder()
        EmbeddingSpace.objects.all().delete()
        configured_space(encoder)
        ids = make_catalog(args.images, 256)
        pictures = decoded_images(ids)
        batches = [encoder.preprocess_images(pictures[i:i + args.batch]) for i in range(0, len(pictures), args.batch)]
        bare_model_rate(encoder, batches[:1])  # warm-up
    rates: dict[tuple, list[float]] = {s: [] for s in SETTINGS}
    phases: dict[tuple, dict[str, float]] = {s: {} for s in SETTINGS}
    bare: list[float] = []
    for _ in range(args.rounds):
        bare.append(bare_model_rate(encoder, batches))
        for lanes, readers, claim in SETTINGS:
            with override_settings(SHOP_CLIP={**base, "CLAIMS_IN_FLIGHT": lanes, "READER_THREADS": readers,
                                              "CLAIM_BATCH_SIZE": claim}):
                get_encoder()  # a settings change empties the model cache: load it outside the clock
                rates[(lanes, readers, claim)].append(pipeline_rate(phases[(lanes, readers, claim)]))
    bare_rate = statistics.median(bare)
    results = [{"claims_in_flight": lanes, "reader_threads": readers, "claim_batch_size": claim,
                "pipeline_images_per_s": round(statistics.median(runs), 1),
                "ratio": round(statistics.median(runs) / bare_rate, 3), "runs": [round(r, 1) for r in runs],
                "pipeline_ms_per_image": phase_table(phases[(lanes, readers, claim)])}
               for (lanes, readers, claim), runs in rates.items()]
    print(f"\nViT-B/32 (random weights), {args.images} images, batches of {args.batch}, {args.device}: "
          f"bare model {bare_rate:.0f} img/s")
    names = ("claim", "readers", "model", "model_wait", "write", "decode", "preprocess")
    print(f"{'claims':>7}{'readers':>8}{'claim size':>11}{'pipeline img/s':>16}{'ratio':>8}   ms an image: "
          + " ".join(f"{name:>10}" for name in names))
    for r in results:
        print(f"{r['claims_in_flight']:>7}{r['reader_threads']:>8}{r['claim_batch_size']:>11}"
              f"{r['pipeline_images_per_s']:>16}{r['ratio']:>8}{'':>15}"
              + " ".join(f"{r['pipeline_ms_per_image'][name]:>10.3f}" for name in names))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"benchmark": "indexing_lanes", "machine": machine_description(args.device),
                                     "device": args.device, "images": args.images, "batch_size": args.batch,
                                     "rounds": args.rounds, "bare_images_per_s": round(bare_rate, 1),
                                     "results": results}, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
