"""Indexing throughput: the bare model against the whole pipeline, side by side in one run.

(a) bare model: ``encode_features`` on already-preprocessed pixel tensors, in batches: the limit.
(b) pipeline: products saved with JPEG files, then ``indexing.process_pending`` (the code a
    Celery worker runs): claim rows, read files, hash, decode, preprocess, encode, write vectors.
(c) worker: the same rows made pending again and one ``index_pending`` task sent to a real Celery
    worker process (started, and its model loaded, before the clock starts), until none is pending.
Rounds alternate (a) with (b), then (a) with (c); we report medians, the ratios (b)/(a) and
(c)/(a), and where (b)'s time goes (the pipeline's own phase timings, which see every thread).

    python bench/indexing.py                       # ViT-B/32 (random weights) and shop-clip-mini
    python bench/indexing.py --model mini --images 512 --json /tmp/out.json
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = "shop_clip_bench_indexing"


def setup_django(database: str = BENCH_DB) -> None:
    """Django on its own database of the embedded (or configured) PostgreSQL."""
    from demo_project.services import ensure_running

    endpoints = ensure_running()
    base = os.environ.get("BENCH_DATABASE_URL", endpoints.database_url).rsplit("/", 1)[0]
    os.environ["DATABASE_URL"] = f"{base}/{database}"
    os.environ.setdefault("CELERY_BROKER_URL", endpoints.broker_url)
    os.environ["SHOP_CLIP_MEDIA_ROOT"] = str(ROOT / "var" / "bench-media" / database)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_project.settings")
    os.environ.setdefault("DJANGO_DEBUG", "0")  # as a deployed worker runs (DEBUG keeps every query)
    os.environ["SHOP_CLIP_TAGGING"] = "0"  # the embedding pipeline alone (tagging is a task of its own)
    import psycopg

    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone():
            conn.execute(f'CREATE DATABASE "{database}"')
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def build_vit_b32(directory: Path) -> Path:
    """The ViT-B/32 CLIP architecture with random weights, in sentence-transformers format."""
    if (directory / "modules.json").exists():
        return directory
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    from demo_project.training.st_format import save_sentence_transformer
    from demo_project.training.synthetic import generate_catalog
    from demo_project.training.tokenizer import build_word_tokenizer

    texts = [p.title + " " + p.description for p in generate_catalog(300, seed=1, image_size=32)]
    tokenizer = build_word_tokenizer(texts, max_length=77)
    config = CLIPConfig(
        text_config={"vocab_size": len(tokenizer), "max_position_embeddings": 77,
                     "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
                     "pad_token_id": tokenizer.pad_token_id},
        vision_config={"image_size": 224, "patch_size": 32, "hidden_size": 768, "num_hidden_layers": 12,
                       "num_attention_heads": 12, "intermediate_size": 3072},
        projection_dim=512,
    )
    processor = CLIPProcessor(image_processor=CLIPImageProcessor(), tokenizer=tokenizer)
    save_sentence_transformer(CLIPModel(config), processor, directory)
    return directory


def make_catalog(count: int, image_size: int = 256) -> list[int]:
    """``count`` demo products with JPEG images (as a store would have them) of ``image_size`` px,
    marked pending in the configured space.  The demo renders its products at 256 px; larger
    sizes are those images scaled up and saved again, with a store's photos' pixel count (what
    decoding and resizing cost) if not their detail.  An earlier run's catalog of the same count
    and size is reused."""
    from PIL import Image

    from demo_project.catalog.loading import load_demo_catalog
    from demo_project.catalog.models import Product
    from shop_clip.marking import mark_pending

    products = list(Product.objects.order_by("pk"))
    if len(products) == count and all(p.image.storage.exists(p.image.name) for p in products):
        with products[0].image.open("rb") as handle:
            if Image.open(handle).size[0] == image_size:
                ids = [p.pk for p in products]
                mark_pending(ids, enqueue=False, keywords=False)
                return ids
    Product.objects.all().delete()
    ids = load_demo_catalog(count, seed=11, progress=False, enqueue=False)
    if image_size != 256:
        for product in Product.objects.filter(pk__in=ids):
            path = product.image.path
            Image.open(path).convert("RGB").resize((image_size, image_size), Image.Resampling.BICUBIC).save(
                path, "JPEG", quality=90)
    return ids


def decoded_images(ids: list[int]):
    from PIL import Image

    from demo_project.catalog.models import Product

    images = []
    for product in Product.objects.filter(pk__in=ids).order_by("pk"):
        with product.image.open("rb") as handle:
            images.append(Image.open(io.BytesIO(handle.read())).convert("RGB"))
    return images


def bare_model_rate(encoder, batches) -> float:
    """Images per second of the model alone on preprocessed batches (``encode_features``: the
    same call the pipeline makes, with the device transfer and fp16 cast on CUDA)."""
    count = 0
    start = time.perf_counter()
    for features in batches:
        count += len(encoder.encode_features(dict(features)))
    return count / (time.perf_counter() - start)


def reset_rows() -> None:
    """Every row pending again, in a clean table with no HNSW index, as for a new catalog: the
    pipeline writes the vectors, then builds the space's index in bulk (spaces.complete_backfill).

    The content hashes are forgotten so every image is really decoded and encoded again. Left as
    the last round wrote them, each round updated rows among more dead versions and inserted into a
    graph holding the earlier rounds' vectors, dead: the rate fell from round to round (1,130 ->
    935 -> 817 images/s for shop-clip-mini on the H200), and writing 1,024 vectors went from 1.3 to
    2.1 ms a row over four rounds here. So, outside the clock: the index dropped, the rows reset,
    the table vacuumed.
    """
    from django.db import connection

    from shop_clip.hnsw import drop_index_sql
    from shop_clip.models import EmbeddingSpace, ProductVector

    with connection.cursor() as cursor:
        for space_id in EmbeddingSpace.objects.values_list("pk", flat=True):
            cursor.execute(drop_index_sql(space_id))
        ProductVector.objects.update(status="pending", content_hash="", embedding=None, attempts=0)
        cursor.execute(f"VACUUM {ProductVector._meta.db_table}")


def pipeline_rate(phases: dict[str, float] | None = None) -> float:
    """Images per second of ``process_pending`` over every row; adds its phase seconds to ``phases``."""
    from shop_clip.claim_lanes import process_pending
    from shop_clip.models import ProductVector

    reset_rows()
    total = ProductVector.objects.count()  # one space (run_model), so one row per image
    start = time.perf_counter()
    result, _ = process_pending()
    elapsed = time.perf_counter() - start
    assert result.embedded == total, f"embedded {result.embedded} of {total}"
    if phases is not None:
        for phase, seconds in result.seconds.items():
            phases[phase] = phases.get(phase, 0.0) + seconds
        phases["wall"] = phases.get("wall", 0.0) + elapsed
        phases["images"] = phases.get("images", 0) + total
    return total / elapsed


WORKER_QUEUE = "shop_clip_bench"


class CeleryWorker:
    """A real ``celery worker`` process (prefork, ``concurrency`` children, one by default as in
    production) on its own queue, with the pipeline's settings passed the way a deployment passes
    them: the environment."""

    def __init__(self, log: Path, concurrency: int = 1, **env: str) -> None:
        self.concurrency = concurrency
        self.log_path = log
        self.env = {**os.environ, "DJANGO_SETTINGS_MODULE": "demo_project.settings", "SHOP_CLIP_QUEUE": WORKER_QUEUE,
                    "PYTHONUNBUFFERED": "1", **env}

    def __enter__(self) -> CeleryWorker:
        from demo_project.celery import app

        with app.connection_for_write() as conn:  # no message of an earlier run
            conn.default_channel.client.delete(WORKER_QUEUE)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "demo_project", "worker", "-Q", WORKER_QUEUE,
             "-c", str(self.concurrency), "--without-gossip", "--without-mingle", "--without-heartbeat",
             "--loglevel", "INFO", "-n", "bench@%h"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while b"ready." not in self.log_path.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not start: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        return self

    def __exit__(self, *exc) -> None:
        from bench.support import stop_process_group

        stop_process_group(self.process)
        self.log.close()


def worker_rate(timeout: float = 1800) -> float:
    """(c) The same work done by the Celery worker: rows pending and one ``index_pending`` task
    sent, as an import or ``shop_clip_index`` sends it (its helpers spread the backlog over the
    worker's children: INDEXING_TASKS), until none is pending.

    A claimed row stays pending until its claim commits, so "none pending" means all written.
    """
    from shop_clip.models import ProductVector
    from shop_clip.tasks import index_pending

    reset_rows()
    total = ProductVector.objects.count()
    start = time.perf_counter()
    index_pending.apply_async(queue=WORKER_QUEUE)
    pending = ProductVector.objects.filter(status="pending")
    while pending.exists():
        if time.perf_counter() - start > timeout:
            raise RuntimeError("the Celery worker did not finish: see its log under var/")
        time.sleep(0.02)
    elapsed = time.perf_counter() - start
    embedded = ProductVector.objects.filter(status="embedded").count()
    assert embedded == total, f"the worker embedded {embedded} of {total}"
    return total / elapsed


PHASE_LABELS = {  # shop_clip.claim_results.PHASES, as the report names them
    "wall": "whole pipeline (wall time)",
    "claim": "claim rows, look up images",
    "readers": "wait for the reader threads",
    "model": "model (its wait for another claim's batch included)",
    "model_wait": "  of which waiting for the model",
    "write": "write vectors and commit (HNSW inserts)",
    "decode": "reader threads: read, hash, decode",
    "preprocess": "reader threads: resize, normalise",
}


def phase_table(phases: dict[str, float]) -> dict[str, float]:
    """Milliseconds per image of each phase, summed over the claims in flight (so they can add up to
    more than the wall time) and, for the reader threads, over those threads."""
    images = phases.get("images") or 1
    return {phase: round(1000 * phases.get(phase, 0.0) / images, 3) for phase in PHASE_LABELS}


def run_model(name: str, model_path: str, images: int, batch: int, rounds: int, device: str = "cpu",
              claims_in_flight: int = 1, readers: int = 4, worker_processes: tuple[int, ...] = (1,),
              claim: int | None = None, photo_px: int = 256) -> dict:
    import torch
    from django.test import override_settings

    from shop_clip.encoders import get_encoder
    from shop_clip.models import EmbeddingSpace
    from shop_clip.spaces import configured_space

    encoder_settings = {"MODEL": model_path, "DEVICE": device, "BATCH_SIZE": batch}
    claim = claim or 4 * batch
    with override_settings(SHOP_CLIP={"ENCODER": encoder_settings, "CLAIM_BATCH_SIZE": claim,
                                      "ENQUEUE_ON_SAVE": False, "CLAIMS_IN_FLIGHT": claims_in_flight,
                                      "READER_THREADS": readers}):
        encoder = get_encoder()
        # One space only: rows of an earlier run's model would be indexed too and skew the rate.
        EmbeddingSpace.objects.all().delete()
        configured_space(encoder)
        started = time.perf_counter()
        ids = make_catalog(images, photo_px)
        _progress(f"{name}: catalog of {len(ids)} products, {photo_px} px JPEGs, ready in "
                  f"{time.perf_counter() - started:.0f} s")
        pictures = decoded_images(ids)
        batches = [encoder.preprocess_images(pictures[i:i + batch]) for i in range(0, len(pictures), batch)]
        bare_model_rate(encoder, batches[:1])  # warm-up
        pipeline_rate()
        bare, piped, phases = [], [], {}
        for index in range(rounds):
            bare.append(bare_model_rate(encoder, batches))
            piped.append(pipeline_rate(phases))
            _progress(f"{name}: round {index + 1}: bare model {bare[-1]:.0f}, pipeline {piped[-1]:.0f} img/s")
        # (c) the Celery worker with each number of children, started (its children load their
        # models as they start, and an unmeasured round runs) beforehand.
        workers = []
        for children in worker_processes:
            worker_env = {"SHOP_CLIP_MODEL": model_path, "SHOP_CLIP_DEVICE": device,
                          "SHOP_CLIP_BATCH_SIZE": str(batch), "SHOP_CLIP_CLAIM_BATCH_SIZE": str(claim),
                          "SHOP_CLIP_CLAIMS_IN_FLIGHT": str(claims_in_flight),
                          "SHOP_CLIP_READER_THREADS": str(readers), "SHOP_CLIP_INDEXING_TASKS": str(children)}
            worked, bare_beside = [], []
            with CeleryWorker(ROOT / "var" / f"bench-worker-{children}.log", children, **worker_env):
                worker_rate()
                for index in range(rounds):
                    bare_beside.append(bare_model_rate(encoder, batches))
                    worked.append(worker_rate())
                    _progress(f"{name}: round {index + 1}: bare model {bare_beside[-1]:.0f}, worker of {children} "
                              f"children {worked[-1]:.0f} img/s")
            ratios = [w / b for w, b in zip(worked, bare_beside, strict=True)]
            workers.append({"children": children, "images_per_s": round(statistics.median(worked), 1),
                            "ratio": round(statistics.median(ratios), 3), "runs": [round(x, 1) for x in worked],
                            "bare_runs_beside": [round(x, 1) for x in bare_beside]})
    ratios = [p / b for p, b in zip(piped, bare, strict=True)]
    best = max(workers, key=lambda w: w["images_per_s"])
    return {
        "model": name, "model_id": encoder.model_id, "images": images, "image_px": photo_px, "batch_size": batch,
        "rounds": rounds, "torch_threads": torch.get_num_threads(), "device": encoder.device,
        "claim_batch_size": claim, "claims_in_flight": claims_in_flight, "reader_threads": readers,
        "bare_images_per_s": round(statistics.median(bare), 1),
        "pipeline_images_per_s": round(statistics.median(piped), 1),
        "ratio": round(statistics.median(ratios), 3),
        "worker_processes": best["children"],  # the best worker: its children, rate and ratio
        "worker_images_per_s": best["images_per_s"],
        "worker_ratio": best["ratio"],
        "workers": workers,
        "bare_runs": [round(x, 1) for x in bare], "pipeline_runs": [round(x, 1) for x in piped],
        "pipeline_ms_per_image": phase_table(phases),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["vit-b-32", "mini", "all"], default="all")
    parser.add_argument("--images", type=int, default=0, help="images per model (default 256 ViT, 1024 mini)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, or auto (CUDA with fp16 where present)")
    parser.add_argument("--mini-path", default=None, help="shop-clip-mini directory (default: the bundled one)")
    parser.add_argument("--claim", type=int, default=None,
                        help="SHOP_CLIP['CLAIM_BATCH_SIZE'] (default 4 batches); a backlog is shared by "
                             "as many worker children as it has claims")
    parser.add_argument("--photo-px", type=int, default=256,
                        help="side of the catalog's JPEG files (the demo's 256 px; scaled up, e.g. 800, for "
                             "a store's photos)")
    parser.add_argument("--claims-in-flight", type=int, default=1, help="SHOP_CLIP['CLAIMS_IN_FLIGHT'] for (b)")
    parser.add_argument("--readers", type=int, default=4, help="SHOP_CLIP['READER_THREADS'] for (b)")
    parser.add_argument("--worker-processes", type=_counts, default=(1, 2),
                        help="Celery worker children for (c) (`celery worker -c N`), each with its own model; "
                             "several as 1,4,8: a worker of each, measured in turn (default 1,2)")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "indexing.json")
    args = parser.parse_args()
    setup_django()
    from shop_clip.encoders.sentence_transformers import resolve_model_path

    models = []
    if args.model in ("vit-b-32", "all"):
        models.append(("ViT-B/32 (random weights)", str(build_vit_b32(ROOT / "var" / "bench-models" / "vit-b-32")),
                       args.images or 256))
    if args.model in ("mini", "all"):
        models.append(("shop-clip-mini", args.mini_path or resolve_model_path("shop-clip-mini"), args.images or 1024))
    results = [run_model(name, path, count, args.batch, args.rounds, args.device, args.claims_in_flight, args.readers,
                         args.worker_processes, args.claim, args.photo_px)
               for name, path, count in models]
    report = {"benchmark": "indexing", "machine": machine_description(args.device),
              "python": platform.python_version(), "results": results}
    print_table(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.json}")


def _progress(line: str) -> None:
    """Each measurement as it is made: a run cut short by a time limit still reports what it got."""
    print(line, flush=True)


def _counts(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(","))


def machine_description(device: str) -> str:
    """The processor, its cores, and the GPU where the run used one."""
    import torch

    text = f"{platform.machine()}, {os.cpu_count()} cores"
    if device != "cpu" and torch.cuda.is_available():
        return f"{text}, {torch.cuda.get_device_name()} (torch {torch.__version__})"
    return f"{text}, CPU"


def print_table(results: list[dict]) -> None:
    print(f"\n{'model':<28}{'device':>7}{'images':>7}{'claims':>7}{'bare img/s':>12}{'pipeline img/s':>16}"
          f"{'ratio':>8}{'children':>9}{'worker img/s':>14}{'ratio':>8}")
    for r in results:
        for index, w in enumerate(r["workers"]):
            head = (f"{r['model']:<28}{r['device']:>7}{r['images']:>7}{r['claims_in_flight']:>7}"
                    f"{r['bare_images_per_s']:>12}{r['pipeline_images_per_s']:>16}{r['ratio']:>8}")
            print((head if index == 0 else " " * len(head))
                  + f"{w['children']:>9}{w['images_per_s']:>14}{w['ratio']:>8}")
    print("(pipeline: indexing.process_pending in this process; worker: a Celery worker process with that many "
          "children, sent one task as an import sends it; ratios against the bare model measured just before each)")
    for r in results:
        print(f"\nwhere the pipeline's time goes, {r['model']}, {r['claims_in_flight']} claim(s) in flight "
              "(ms an image, all rounds; claims in flight and reader threads each add their own time):")
        for phase, label in PHASE_LABELS.items():
            print(f"  {label:<52}{r['pipeline_ms_per_image'][phase]:>8.3f}")


if __name__ == "__main__":
    main()
