"""What `pip install .` ships: the app, its fine-tuning and the bundled model, not the demo's kit."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The synthetic catalog and shop-clip-mini's training recipe: demo code, never in the wheel.
DEMO_KIT = ("vocabulary", "frame", "silhouettes", "patterns", "rendering", "wording", "synthetic", "tokenizer",
            "mini_model", "mini_data", "look_alike_batches", "st_format", "train_mini", "quality", "check_mini",
            "eval_set", "scenes", "store_catalog")
IMPORTS_DEMO = re.compile(r"^\s*(from|import)\s+demo_project\b", re.MULTILINE)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Iterator[zipfile.ZipFile]:
    """The wheel `pip install .` would install, built offline from a copy of the working tree."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    # A copy: the build's egg-info and build/ stay out of the working tree other runs share.
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "var", "media", "build", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                    "-w", str(work / "dist"), str(source)], check=True, capture_output=True, timeout=300)
    (built,) = (work / "dist").glob("shop_clip-*.whl")
    with zipfile.ZipFile(built) as archive:
        yield archive


def test_the_wheel_holds_no_synthetic_catalog_or_mini_model_training(wheel):
    names = wheel.namelist()
    modules = {Path(name).stem for name in names if name.endswith(".py")}
    assert not modules & set(DEMO_KIT)
    assert not [name for name in names if name.startswith("demo_project/")]
    assert {name.split("/")[0] for name in names if ".dist-info/" not in name} == {"shop_clip"}


def test_the_wheel_holds_fine_tuning_and_the_bundled_model(wheel):
    names = set(wheel.namelist())
    assert {"shop_clip/training/finetune.py", "shop_clip/training/training_loop.py",
            "shop_clip/management/commands/shop_clip_finetune.py", "shop_clip/retrieval_eval.py"} <= names
    model = "shop_clip/pretrained/shop-clip-mini/"
    assert {model + "modules.json", model + "model.safetensors", model + "tokenizer.json",
            model + "look_regions/modules.json", model + "look_regions/model.safetensors"} <= names


def test_no_installed_module_imports_demo_code(wheel):
    sources = {name: wheel.read(name).decode() for name in wheel.namelist() if name.endswith(".py")}
    assert [name for name, text in sources.items() if IMPORTS_DEMO.search(text)] == []
