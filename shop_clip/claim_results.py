"""What claims did and where their time went: ``BatchResult``, the phases it times, and the line
``time_summary`` writes for people."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

# Where a claim's time goes, in seconds (``BatchResult.seconds``).  The claim's own thread:
#   claim     claiming rows and looking up their images
#   readers   waiting for the reader threads' next batch
#   model     waiting for the model (another claim's batch) and running it; model_wait is the wait
#   write     writing vectors and states, and the commit (PostgreSQL's HNSW inserts)
# and thread time in the reader threads, which overlaps the above:
#   decode    reading, hashing and decoding the files
#   preprocess resizing and normalising for the model
PHASES = ("claim", "readers", "model", "model_wait", "write", "decode", "preprocess")
CLAIM_PHASES = ("claim", "readers", "model", "write")  # one after another: they add up to the claim's time


@dataclass
class BatchResult:
    """Rows a claim (or a run of claims, added up) claimed, embedded, kept unchanged, failed and
    removed, the rows deferred for another try, and the seconds spent in each of ``PHASES``."""

    claimed: int = 0
    embedded: int = 0
    unchanged: int = 0
    failed: int = 0
    removed: int = 0
    deferred: list[int] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))

    def add(self, other: BatchResult) -> None:
        for name in ("claimed", "embedded", "unchanged", "failed", "removed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.deferred.extend(other.deferred)
        for phase, seconds in other.seconds.items():
            self.seconds[phase] += seconds


def lap(seconds: dict[str, float], phase: str, since: float) -> float:
    """Add the time since ``since`` to ``phase``; returns now, the start of the next lap."""
    now = time.perf_counter()
    seconds[phase] += now - since
    return now


def time_summary(result: BatchResult, wall_seconds: float) -> str:
    """Where an indexing run's time went, for people: ``"in 12.3 s (83 images/s): claiming 1%, waiting
    for readers 7%, model 80%, writing 12%"`` (shares of the claims' time, which sums over claims in
    flight).  Waiting for readers means decoding is the limit (more READER_THREADS or cores);
    writing, PostgreSQL's HNSW inserts."""
    labels = ("claiming", "waiting for readers", "model", "writing")  # CLAIM_PHASES, for people
    total = sum(result.seconds[phase] for phase in CLAIM_PHASES) or 1.0
    done = result.embedded + result.unchanged + result.failed  # images read, encoded or not
    rate = done / wall_seconds if wall_seconds > 0 else 0.0
    shares = ", ".join(f"{label} {100 * result.seconds[phase] / total:.0f}%"
                       for label, phase in zip(labels, CLAIM_PHASES, strict=True))
    return f"in {wall_seconds:.1f} s ({rate:.0f} images/s): {shares}"
