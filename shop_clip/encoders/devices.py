"""Where a model runs: the one choice of device, for the encoders, the worker's start-up and fine-tuning."""

from __future__ import annotations

from ..conf import shop_clip_settings


def choose_device(device: str = "auto") -> str:
    """``"auto"`` -> ``"cuda"`` where torch sees a GPU, else ``"cpu"``; any other value as given
    (``"cpu"``, ``"cuda:1"``, ``"mps"``)."""
    if device != "auto":
        return device
    import torch  # only here: a store's web processes and its other workers never load torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def configured_device() -> str:
    """The device ``SHOP_CLIP["ENCODER"]["DEVICE"]`` names, ``"auto"`` resolved."""
    return choose_device(str(shop_clip_settings.ENCODER["DEVICE"]))
