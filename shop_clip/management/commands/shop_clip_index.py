"""Queue products for embedding, or embed them here, with a progress bar."""

from __future__ import annotations

import threading
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from tqdm import tqdm

from shop_clip.claim_lanes import process_pending
from shop_clip.claim_results import time_summary
from shop_clip.conf import get_product_model
from shop_clip.encoders import EncoderUnavailable
from shop_clip.hnsw import index_name
from shop_clip.keywords import keyword_search_enabled, missing_document_ids, refresh_documents
from shop_clip.management.output import positive_seconds
from shop_clip.marking import mark_pending, missing_product_ids, send_index_task
from shop_clip.models import ProductVector
from shop_clip.space_index import configured_index_kind, space_has_index, switch_index_kind
from shop_clip.spaces import complete_backfill, configured_space, target_spaces

CHUNK = 500


class Command(BaseCommand):
    help = ("Mark products for embedding (--missing: those never indexed, the default; --all: every "
            "product, e.g. after changing the model; --retry-failed) and enqueue the work for the "
            "Celery workers, or embed here with --inline.  Keyword documents of the marked "
            "products, and of any product without one, are written here and now.")

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--missing", action="store_true", help="products without vectors (default)")
        which.add_argument("--all", action="store_true", help="every product (re-uses unchanged vectors)")
        parser.add_argument("--retry-failed", action="store_true", help="give failed images another try")
        parser.add_argument("--inline", action="store_true", help="embed in this process, not on the workers")
        parser.add_argument("--wait", action="store_true", help="after enqueueing, show progress until done")
        parser.add_argument("--timeout", type=positive_seconds, default=3600, help="seconds --wait waits at most")
        parser.add_argument("--switch-index", action="store_true",
                            help="build the kind of HNSW index SHOP_CLIP['VECTOR_INDEX'] names for each space "
                                 "kept current, beside the one search walks, then switch search to it (nothing "
                                 "is marked)")

    def handle(self, *args, **options):
        if options["inline"] and options["wait"]:
            raise CommandError("--inline embeds in this process and returns when done; --wait waits for the "
                               "workers: give one of them")
        others = [flag for flag in ("missing", "all", "retry_failed", "inline", "wait") if options[flag]]
        if options["switch_index"] and others:
            raise CommandError(f"--switch-index only builds and switches indexes; run it without "
                               f"{', '.join('--' + flag.replace('_', '-') for flag in others)}")
        try:
            space = configured_space()
        except EncoderUnavailable as exc:
            raise CommandError(str(exc)) from exc
        if options["switch_index"]:
            self._switch_indexes()
            return
        ids = (list(get_product_model()._default_manager.values_list("pk", flat=True))
               if options["all"] else missing_product_ids())
        marked = 0
        for start in tqdm(range(0, len(ids), CHUNK), desc="marking", unit="chunk", disable=len(ids) <= CHUNK):
            marked += mark_pending(ids[start:start + CHUNK], enqueue=False)
        self._index_missing_keywords()
        if options["retry_failed"]:
            marked += ProductVector.objects.filter(status=ProductVector.Status.FAILED).update(
                status=ProductVector.Status.PENDING, attempts=0, error="")
        pending = ProductVector.objects.filter(status=ProductVector.Status.PENDING).count()
        self.stdout.write(f"model {space.model_id}: {marked} rows marked, {pending} pending in all")
        if not pending:
            self._complete(space)
            return
        if options["inline"]:
            self._run_inline(pending)
            self._complete(space)
        else:
            if send_index_task():
                self.stdout.write("enqueued on the workers' queue")
            if options["wait"]:
                self._wait(pending, options["timeout"])

    def _complete(self, space) -> None:
        """Build the space's HNSW index if its backfill is done and it has none (workers build it
        when they drain a backlog; this covers a store whose worker was stopped then)."""
        if not space_has_index(space):
            self.stdout.write(f"building the {space.index_kind} HNSW index of {space.model_id} in bulk")
        with build_progress(index_name(space.pk, space.index_kind), _vectors(space)):
            activated = complete_backfill(space)
        if activated:
            self.stdout.write(f"search now reads {space.model_id}")

    def _switch_indexes(self) -> None:
        kind = configured_index_kind()
        for space in target_spaces():
            if space.index_kind == kind:
                self.stdout.write(f"{space.model_id}: search already walks its {kind} index")
                continue
            old = space.index_kind
            if space_has_index(space):
                self.stdout.write(f"{space.model_id}: building its {kind} index beside its {old} one; "
                                  "search walks the old one meanwhile")
            with build_progress(index_name(space.pk, kind), _vectors(space)):
                switched = switch_index_kind(space, kind)
            if not switched:
                raise CommandError(f"another process is building the {kind} index of {space.model_id}: run "
                                   "this again once it is done (`shop_clip_status` shows the index as building)")
            self.stdout.write(f"{space.model_id}: search walks its {kind} index; the {old} one is dropped")

    def _index_missing_keywords(self) -> None:
        """Keyword documents of the products without one (older than shop-clip's keyword search;
        marking wrote those of the marked products)."""
        if not keyword_search_enabled():
            return
        ids = missing_document_ids()
        chunk = CHUNK * 10
        written = 0
        for start in tqdm(range(0, len(ids), chunk), desc="keywords", unit="chunk", disable=len(ids) <= chunk):
            written += refresh_documents(ids[start:start + chunk])
        if written:
            self.stdout.write(f"keyword documents written for {written} products")

    def _run_inline(self, pending: int) -> None:
        start = time.monotonic()
        with tqdm(total=pending, desc="embedding", unit="img") as bar:
            result, _ = process_pending(on_batch=lambda r: bar.update(r.claimed - len(r.deferred)))
        self.stdout.write(f"embedded {result.embedded}, unchanged {result.unchanged}, failed {result.failed}, "
                          f"removed {result.removed} {time_summary(result, time.monotonic() - start)}")

    def _wait(self, pending: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        done_before = pending
        with tqdm(total=pending, desc="embedding (workers)", unit="img") as bar:
            while time.monotonic() < deadline:
                left = ProductVector.objects.filter(status=ProductVector.Status.PENDING).count()
                if left == pending:  # a worker's first claim waits for its model to load
                    bar.set_postfix_str("waiting for a worker (its first batch loads the model)")
                if left != done_before:
                    bar.set_postfix_str("")
                    bar.update(done_before - left)
                    done_before = left
                if not left:
                    break
                time.sleep(0.5)
            else:
                raise CommandError(f"{left} rows still pending after {timeout:.0f}s: are workers running "
                                   "(`celery -A <project> worker -Q shop_clip`)?")
        failed = ProductVector.objects.filter(status=ProductVector.Status.FAILED).count()
        if failed:
            self.stdout.write(self.style.WARNING(f"{failed} images failed: see `shop_clip_status --failed`"))


def _vectors(space) -> int:
    """The vectors a build of the space's index reads (pgvector reports no total of its own)."""
    return ProductVector.objects.filter(space=space, embedding__isnull=False).count()


class build_progress:
    """A progress bar of the index build named ``index`` while the block runs, of ``total`` rows,
    read from PostgreSQL's ``pg_stat_progress_create_index`` on a connection of its own (the
    build's connection is busy running it)."""

    def __init__(self, index: str, total: int | None = None, every: float = 1.0) -> None:
        self.index, self.total, self.every = index, total, every
        self.done = threading.Event()

    def __enter__(self) -> None:
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.thread.join()

    def _watch(self) -> None:
        bar = None
        try:
            while not self.done.wait(self.every):
                with connection.cursor() as cursor:
                    cursor.execute("SELECT p.phase, p.tuples_done, p.tuples_total FROM pg_stat_progress_create_index p "
                                   "JOIN pg_class c ON c.oid = p.index_relid WHERE c.relname = %s", [self.index])
                    row = cursor.fetchone()
                if row is None:
                    continue
                phase, done, total = row
                if bar is None:
                    bar = tqdm(total=total or self.total, desc=f"building {self.index}", unit="row")
                bar.set_postfix_str(phase)
                bar.total = total or self.total
                if done > bar.n:  # a later phase (validation) counts from 0 again
                    bar.update(done - bar.n)
        finally:
            if bar is not None:
                bar.close()
            connection.close()  # this thread's own connection
