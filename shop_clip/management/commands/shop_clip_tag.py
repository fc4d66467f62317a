"""Tag products and raise moderation flags from their stored vectors, with a progress bar."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from shop_clip.management.output import writable_file
from shop_clip.spaces import NoActiveSpace, active_space
from shop_clip.tag_rules import tagging_enabled
from shop_clip.tagging import TaggingSummary, embedded_product_ids, tag_products


class Command(BaseCommand):
    help = ("Zero-shot tags (SHOP_CLIP['TAGS']) and moderation flags (SHOP_CLIP['MODERATION']) of the "
            "embedded products, from their stored vectors: --missing (the default) those without tags, "
            "--all every product, e.g. after changing the settings.  Prints a summary.")

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--missing", action="store_true", help="embedded products without tags (default)")
        which.add_argument("--all", action="store_true", help="every embedded product")
        parser.add_argument("--json", metavar="OUT", help="also write the summary as JSON to this file")

    def handle(self, *args, **options):
        out = writable_file(options["json"])
        if not tagging_enabled():
            raise CommandError("nothing to do: configure SHOP_CLIP['TAGS'] and/or SHOP_CLIP['MODERATION']")
        try:
            space = active_space()
        except NoActiveSpace as exc:
            raise CommandError(str(exc)) from exc
        ids = embedded_product_ids(space, untagged_only=not options["all"])
        with tqdm(total=len(ids), desc="tagging", unit="product", disable=not ids) as bar:
            summary = tag_products(ids, space, on_chunk=bar.update)
        for line in summary_lines(summary, space.model_id):
            self.stdout.write(line)
        if options["json"]:
            report = {"model": space.model_id, **summary.as_dict()}
            out.write_text(json.dumps(report, indent=2) + "\n")
            self.stdout.write(f"wrote {options['json']}")


def summary_lines(summary: TaggingSummary, model_id: str) -> list[str]:
    """The summary as printed: products, then each group's labels and misses, then flags by kind."""
    report = summary.as_dict()
    lines = [f"model {model_id}: {report['products']} products tagged"]
    for group, counts in report["tags"].items():
        labels = ", ".join(f"{label} {n}" for label, n in counts["labels"].items()) or "-"
        lines.append(f"  {group}: {labels}; none {counts['none']}")
    flags = ", ".join(f"{kind} {n}" for kind, n in sorted(report["flags"].items())) or "none"
    lines.append(f"flags raised: {flags}")
    return lines
