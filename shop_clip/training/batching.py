"""How a training epoch is cut into batches, and the contract a batching strategy follows.

``train_contrastive`` takes any :class:`Batches`; :class:`RandomBatches` is the default.  The demo's
recipe for shop-clip-mini brings its own (look-alike groups, ``demo_project/training``).
"""

from __future__ import annotations

from typing import Protocol

import torch


class Batches(Protocol):
    """A batching strategy: ``steps_per_epoch`` batches of image indices per ``epoch`` call."""

    steps_per_epoch: int

    def epoch(self, generator: torch.Generator) -> list[torch.Tensor]:
        """One epoch's batches (1-d index tensors), reproducible from ``generator``."""
        ...


class RandomBatches:
    """Each epoch: a seeded permutation cut into ``size // batch_size`` full batches."""

    def __init__(self, size: int, batch_size: int) -> None:
        self.size = size
        self.batch_size = min(batch_size, size)
        self.steps_per_epoch = max(1, size // self.batch_size)

    def epoch(self, generator: torch.Generator) -> list[torch.Tensor]:
        order = torch.randperm(self.size, generator=generator)
        return [order[step * self.batch_size:(step + 1) * self.batch_size] for step in range(self.steps_per_epoch)]
