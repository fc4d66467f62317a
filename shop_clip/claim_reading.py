"""Reading a claim's images on the reader threads: each file read, hashed, decoded and
preprocessed, in pieces of an encoder batch, while the model encodes the batch before."""

from __future__ import annotations

import hashlib
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .catalog import ImageRef
from .conf import positive_setting
from .encoders import BaseEncoder
from .images import ImageRejected, decode_size, load_image, read_limited
from .models import ProductVector


@dataclass
class LoadedImage:
    """One claimed row after reading: its file's hash, the decoded image (None when unchanged or
    failed), and why it failed (``transient``: worth another try)."""

    row: ProductVector
    content_hash: str = ""
    image: Any = None
    error: str = ""
    transient: bool = False


def read_image(ref: ImageRef | None, row: ProductVector, target: int, resize_to: int | None) -> LoadedImage:
    """Read, hash and decode the image of ``row`` (``ref`` None: the image is gone); an image whose
    hash matches the stored vector's is not decoded."""
    loaded = LoadedImage(row)
    if ref is None:
        return loaded
    try:
        ref.file.open("rb")
        try:
            data = read_limited(ref.file)
        finally:
            ref.file.close()
    except FileNotFoundError:
        loaded.error = f"image file is missing from storage: {ref.file.name}"
        return loaded
    except ImageRejected as exc:
        loaded.error = exc.for_staff()
        return loaded
    except OSError as exc:  # storage hiccup: worth another try
        loaded.error, loaded.transient = f"could not read {ref.file.name}: {exc}", True
        return loaded
    loaded.content_hash = hashlib.sha256(data).hexdigest()
    if loaded.content_hash == row.content_hash and row.embedding is not None:
        return loaded  # unchanged image: keep its vector
    try:
        loaded.image = load_image(data, target=target, resize_to=resize_to)
    except ImageRejected as exc:
        loaded.error = exc.for_staff()
    return loaded


_readers: tuple[int, ThreadPoolExecutor] | None = None  # (size, pool)
_readers_lock = threading.Lock()


def reader_pool() -> ThreadPoolExecutor:
    """The process's reader threads, ``READER_THREADS`` of them (a new pool when the setting changes)."""
    # Decoding and resizing release the GIL, so a few threads keep the encoder fed.
    global _readers
    size = positive_setting("READER_THREADS")
    with _readers_lock:
        if _readers is None or _readers[0] != size:  # first use, or the setting changed
            if _readers is not None:
                _readers[1].shutdown(wait=False)  # its queued work still runs
            _readers = (size, ThreadPoolExecutor(max_workers=size, thread_name_prefix="shop-clip-read"))
        return _readers[1]


def reader_pool_size() -> int | None:
    """The threads of the reader pool now running; None before the first claim."""
    with _readers_lock:
        return _readers[0] if _readers is not None else None


Piece = tuple[list[LoadedImage], object, float, float]


def prepare_piece(encoder: BaseEncoder, pairs: list[tuple[ProductVector, ImageRef | None]]) -> Piece:
    """Read, hash, decode and preprocess one piece of an encoder batch (runs in a reader thread);
    returns the rows, the model's inputs, and the seconds spent decoding and preprocessing."""
    start = time.perf_counter()
    target, resize_to = decode_size(encoder.image_size), encoder.resize_side
    loaded = [read_image(ref, row, target, resize_to) for row, ref in pairs]
    images = [item.image for item in loaded if item.image is not None]
    decoded = time.perf_counter()
    features = encoder.preprocess_images(images) if images else None
    return loaded, features, decoded - start, time.perf_counter() - decoded


def submit_reads(encoder: BaseEncoder, pairs: list[tuple[ProductVector, ImageRef | None]],
                 size: int) -> list[list[Future[Piece]]]:
    """The reading of one claim of ``size`` rows, handed to the reader threads: for each encoder
    batch, its pieces' futures.  A batch is split into as many pieces as there are reader threads,
    so all of them work on it even when a claim is a single batch (docs/decisions/worker-children.md,
    "Why a batch is read in pieces")."""
    step = max(1, min(encoder.batch_size, size))
    piece = max(1, -(-step // positive_setting("READER_THREADS")))
    pool = reader_pool()
    return [[pool.submit(prepare_piece, encoder, pairs[j:j + piece])
             for j in range(i, min(i + step, len(pairs)), piece)]
            for i in range(0, len(pairs), step)]
