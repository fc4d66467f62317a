"""The commands refuse a bad argument in a line, before any work: not with a traceback after it."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "taken"
    path.write_text("not a folder")
    return path


CASES = {
    "eval --json a folder": (["shop_clip_eval", "--json", "{tmp}"], "is a folder; name a file in it"),
    "eval --json under a file": (["shop_clip_eval", "--json", "{file}/x.json"], "cannot make the folder"),
    "eval --look-alike-sample 0": (["shop_clip_eval", "--look-alike-sample", "0"], "must be 1 or more, not 0"),
    "eval --min-relevant -1": (["shop_clip_eval", "--min-relevant", "-1"], "must be 1 or more, not -1"),
    "tag --json a folder": (["shop_clip_tag", "--json", "{tmp}"], "is a folder; name a file in it"),
    "index --timeout 0": (["shop_clip_index", "--wait", "--timeout", "0"], "must be more than 0 seconds"),
    "index --timeout nan": (["shop_clip_index", "--wait", "--timeout", "nan"], "must be more than 0 seconds"),
    "index --inline --wait": (["shop_clip_index", "--inline", "--wait"], "give one of them"),
    "index --switch-index --all": (["shop_clip_index", "--switch-index", "--all"], "run it without --all"),
    "finetune --limit -5": (["shop_clip_finetune", "--output", "{tmp}/m", "--limit", "-5"], "must be 1 or more"),
    "finetune --epochs 0": (["shop_clip_finetune", "--output", "{tmp}/m", "--epochs", "0"], "must be 1 or more"),
    "finetune --holdout 1": (["shop_clip_finetune", "--output", "{tmp}/m", "--holdout", "1"], "below 1, not 1"),
    "finetune --output a file": (["shop_clip_finetune", "--output", "{file}"], "is a file; name a folder"),
    "finetune --lr 0": (["shop_clip_finetune", "--output", "{tmp}/m", "--lr", "0"], "--lr must be above 0"),
}


@pytest.mark.parametrize("argv, message", CASES.values(), ids=CASES.keys())
def test_a_bad_argument_is_refused_before_any_work(db, tmp_path, a_file, argv, message):
    argv = [arg.format(tmp=tmp_path, file=a_file) for arg in argv]
    with pytest.raises(CommandError, match=message):
        call_command(*argv)
    assert not (tmp_path / "m").exists()  # no model folder begun

