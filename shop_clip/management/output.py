"""What the commands share: checks of their arguments made before any work starts."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from django.core.management.base import CommandError


def writable_file(path: str | Path | None) -> Path | None:
    """``path`` checked as a file the command can write at its end (its folder made now), so that a
    bad ``--json`` fails in a line before the work, not in a traceback after it."""
    if path is None:
        return None
    path = Path(path)
    if path.is_dir():
        raise CommandError(f"{path} is a folder; name a file in it, e.g. {path / 'report.json'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"cannot make the folder for {path}: {exc.strerror or exc}") from exc
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise CommandError(f"cannot write {path}: no permission")
    return path


def _bounded(convert: Callable[[str], float], accept: Callable[[float], bool], wanted: str, name: str):
    """An argparse type: ``convert(text)``, refused unless ``accept`` takes it (NaN never is)."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from exc
        if not accept(value):
            raise argparse.ArgumentTypeError(f"must be {wanted}, not {text}")
        return value

    parse.__name__ = name
    return parse


at_least_one = _bounded(int, lambda value: value >= 1, "1 or more", "at_least_one")
positive_seconds = _bounded(float, lambda value: value > 0, "more than 0 seconds", "positive_seconds")
share = _bounded(float, lambda value: 0 < value < 1, "above 0 and below 1", "share")
