"""Look-alike batches for training shop-clip-mini: groups of products that share two of category,
colour and pattern and differ in the third.

In a random batch, colour and pattern alone tell almost every product apart, so a model can
score well while barely learning shapes.  Look-alike groups make every attribute necessary.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import torch

ATTRIBUTES = ("category", "colour", "pattern")


class LookAlikeBatches:
    """Batches of ``group_size`` look-alike groups around random anchors.

    ``attributes``: one dict per image (category, colour, pattern).  For each group one
    attribute is chosen to vary (``weights`` over category, colour, pattern); the partners
    share the other two with the anchor and all differ from each other in the varying one.
    Each epoch has as many batches as a random epoch.
    """

    def __init__(self, attributes: Sequence[dict], batch_size: int, group_size: int = 4,
                 weights: Sequence[float] = (0.8, 0.1, 0.1)) -> None:
        # Category varies in most groups: telling shapes apart is the hard part for the image
        # tower (colour and pattern are learnt early either way).
        self.keys = [tuple(item[name] for name in ATTRIBUTES) for item in attributes]
        self.batch_size = min(batch_size, len(self.keys))
        self.group_size = group_size
        self.steps_per_epoch = max(1, len(self.keys) // self.batch_size)
        self.weights = torch.tensor(weights, dtype=torch.float)
        # For each varying attribute: the two fixed values -> images that have them.
        self.by_fixed: list[dict[tuple, list[int]]] = []
        for varying in range(len(ATTRIBUTES)):
            index: dict[tuple, list[int]] = defaultdict(list)
            for image, key in enumerate(self.keys):
                index[self._fixed(key, varying)].append(image)
            self.by_fixed.append(index)

    @staticmethod
    def _fixed(key: tuple, varying: int) -> tuple:
        return key[:varying] + key[varying + 1:]

    def _group(self, anchor: int, varying: int, taken: set[int], generator: torch.Generator) -> list[int]:
        candidates = self.by_fixed[varying][self._fixed(self.keys[anchor], varying)]
        group, values = [anchor], {self.keys[anchor][varying]}
        for pick in torch.randperm(len(candidates), generator=generator).tolist():
            if len(group) == self.group_size:
                break
            image = candidates[pick]
            if image not in taken and self.keys[image][varying] not in values:
                group.append(image)
                values.add(self.keys[image][varying])
        return group

    def epoch(self, generator: torch.Generator) -> list[torch.Tensor]:
        anchors = torch.randperm(len(self.keys), generator=generator).tolist()
        batches = []
        for _ in range(self.steps_per_epoch):
            batch: list[int] = []
            taken: set[int] = set()
            while len(batch) < self.batch_size:
                anchor = anchors.pop() if anchors else int(torch.randint(len(self.keys), (1,), generator=generator))
                if anchor in taken:
                    continue
                varying = int(torch.multinomial(self.weights, 1, generator=generator))
                group = self._group(anchor, varying, taken, generator)[: self.batch_size - len(batch)]
                batch.extend(group)
                taken.update(group)
            batches.append(torch.tensor(batch))
        return batches
