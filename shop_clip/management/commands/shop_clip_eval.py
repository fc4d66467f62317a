"""Retrieval quality of the current model and index, through the real search code."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from shop_clip.catalog import get_catalog
from shop_clip.keywords import keyword_search_enabled
from shop_clip.retrieval_eval import (
    evaluate,
    evaluate_search_modes,
    evaluate_shop_the_look,
    load_queries,
    load_scenes,
)
from shop_clip.spaces import NoActiveSpace, active_space


def catalog_has_categories() -> bool:
    return get_catalog().category_lookup is not None


class Command(BaseCommand):
    help = ("Print text->product precision@10 and nDCG@10 (queries from --queries, else built from the products' "
            "attributes), look-alike precision@10 and the index's recall, for HNSW and exact search; with keyword "
            "search on, the same queries in each search mode; with --scenes, shop the look on labelled photos.")

    def add_arguments(self, parser):
        parser.add_argument("--json", type=Path, help="also write the numbers here")
        parser.add_argument("--queries", type=Path,
                            help='a JSON list of {"query": text, "relevant": {attribute: value, ...}} '
                                 "(default: every attribute combination enough products have)")
        parser.add_argument("--min-relevant", type=int, default=10,
                            help="only queries with at least this many relevant products")
        parser.add_argument("--look-alike-sample", type=int, default=200)
        parser.add_argument("--scenes", type=Path,
                            help="a directory of scene photos and scenes.json, the products each shows, "
                                 "for shop the look (default: not measured)")

    def handle(self, *args, **options):
        try:
            queries = load_queries(options["queries"]) if options["queries"] else None
            scenes = load_scenes(options["scenes"]) if options["scenes"] else None
            space = active_space()
            report = evaluate(space, queries, min_relevant=options["min_relevant"],
                              look_alike_sample=options["look_alike_sample"])
        except (NoActiveSpace, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"model {report.model_id}, {report.products} embedded products, queries: "
                          + ", ".join(f"{k} {v}" for k, v in report.queries.items()))
        if report.skipped_queries:
            self.stdout.write(f"({report.skipped_queries} queries skipped: fewer than {options['min_relevant']} "
                              "relevant products)")
        width = max(len(name) for name in report.metrics)
        self.stdout.write(f"{'metric':<{width}}  {'HNSW':>7}  {'exact':>7}  {'ratio':>6}")
        for name, values in report.metrics.items():
            ratio = values["hnsw"] / values["exact"] if values["exact"] else float("nan")
            self.stdout.write(f"{name:<{width}}  {values['hnsw']:>7.3f}  {values['exact']:>7.3f}  {ratio:>6.3f}")
        result = report.as_dict()
        if keyword_search_enabled():
            result["search_modes"] = modes = evaluate_search_modes(queries, min_relevant=options["min_relevant"])
            self._print_modes(modes)
        if scenes and catalog_has_categories():
            look = evaluate_shop_the_look(scenes)
            result["shop_the_look"] = look
            self.stdout.write(f"shop the look, {look['scenes']} photos of {look['products']} products: "
                              f"categories found {look['category_recall']:.3f}, groups right "
                              f"{look['category_precision']:.3f}, top product of the photographed colour "
                              f"{look['top_same_colour']:.3f}, median {look['median_ms']:.0f} ms a photo")
        if options["json"]:
            options["json"].parent.mkdir(parents=True, exist_ok=True)
            options["json"].write_text(json.dumps(result, indent=2))
            self.stdout.write(f"wrote {options['json']}")

    def _print_modes(self, modes: dict) -> None:
        names = next(iter(modes["metrics"].values()), {})
        width = max([len(kind) for kind in modes["metrics"]] + [len("search mode, P@10 / nDCG@10")]) + 6
        self.stdout.write(f"{'search mode, P@10 / nDCG@10':<{width}}" + "".join(f"{mode:>15}" for mode in names))
        for kind, by_mode in modes["metrics"].items():
            label = f"{kind.replace('_', ' ')} ({modes['queries'][kind]})"
            self.stdout.write(f"{label:<{width}}" + "".join(
                f"{values['p_at_10']:.3f} / {values['ndcg_at_10']:.3f}".rjust(15) for values in by_mode.values()))
