"""Retrieval quality of the current model and index, through the real search code."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from shop_clip.catalog import get_catalog
from shop_clip.keywords import keyword_search_enabled
from shop_clip.look_eval import ERRORS, TARGETS, evaluate_shop_the_look, load_scenes
from shop_clip.management.output import at_least_one, writable_file
from shop_clip.retrieval_eval import evaluate, evaluate_search_modes, load_queries
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
        parser.add_argument("--min-relevant", type=at_least_one, default=10,
                            help="only queries with at least this many relevant products")
        parser.add_argument("--look-alike-sample", type=at_least_one, default=200)
        parser.add_argument("--scenes", type=Path,
                            help="a directory of scene photos and scenes.json, the products each shows, "
                                 "for shop the look (default: not measured)")

    def handle(self, *args, **options):
        out = writable_file(options["json"])
        try:
            scenes = load_scenes(options["scenes"]) if options["scenes"] else None
        except ValueError as exc:
            raise CommandError(f"{exc}; a folder of labelled photos and their scenes.json is needed (the demo "
                               "writes its own with `python -m demo_project.training.eval_set`)") from exc
        try:
            queries = load_queries(options["queries"]) if options["queries"] else None
            space = active_space()
            report = evaluate(space, queries, min_relevant=options["min_relevant"],
                              look_alike_sample=options["look_alike_sample"])
        except (NoActiveSpace, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        if queries and report.skipped_queries == len(queries):
            raise CommandError(f"all {len(queries)} queries were skipped: none has {options['min_relevant']} "
                               "relevant products. Check the attributes' names and values against the "
                               "products' (they match exactly), or lower --min-relevant")
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
            result["shop_the_look"] = look = evaluate_shop_the_look(scenes)
            self._print_looks(look)
        if out:
            out.write_text(json.dumps(result, indent=2))
            self.stdout.write(f"wrote {out}")

    def _print_modes(self, modes: dict) -> None:
        names = next(iter(modes["metrics"].values()), {})
        width = max([len(kind) for kind in modes["metrics"]] + [len("search mode, P@10 / nDCG@10")]) + 6
        self.stdout.write(f"{'search mode, P@10 / nDCG@10':<{width}}" + "".join(f"{mode:>15}" for mode in names))
        for kind, by_mode in modes["metrics"].items():
            label = f"{kind.replace('_', ' ')} ({modes['queries'][kind]})"
            self.stdout.write(f"{label:<{width}}" + "".join(
                f"{values['p_at_10']:.3f} / {values['ndcg_at_10']:.3f}".rjust(15) for values in by_mode.values()))

    def _print_looks(self, look: dict) -> None:
        """One line per kind of scene, the targets above them; then each kind's missed targets."""
        columns = [("category_recall", "categories", "{:.3f}"), ("exact_in_top5", "exact@5", "{:.3f}"),
                   ("spurious_per_scene", "spurious", "{:.2f}"), ("p50_ms", "p50 ms", "{:.0f}"),
                   ("p95_ms", "p95 ms", "{:.0f}"), ("cpu_p95_ms", "CPU p95", "{:.0f}")]
        self.stdout.write(f"shop the look, {look['scenes']} photos of {look['products']} products "
                          f"(the very product known for {look['exact_measured']}); errors as shares of the "
                          "products: no region on it, region of another category, not in its group's first 5")
        rows = [*look["kinds"].items(), ("all", look)]
        width = max(len(kind) for kind, _ in rows) + 2
        header = f"{'kind':<{width}}{'photos':>7}" + "".join(f"{title:>12}" for _, title, _ in columns)
        self.stdout.write(header + "".join(f"{name.replace('_', ' '):>16}" for name in ERRORS))
        self.stdout.write(f"{'target':<{width}}{'':>7}" + "".join(
            f"{TARGETS[name][0] + ' ' + format(TARGETS[name][1], 'g') if name in TARGETS else '':>12}"
            for name, _, _ in columns))
        for kind, figures in rows:
            cells = "".join(f"{'-' if figures[name] is None else fmt.format(figures[name]):>12}"
                            for name, _, fmt in columns)
            errors = "".join(f"{figures['errors'][name]:>16.3f}" for name in ERRORS)
            self.stdout.write(f"{kind:<{width}}{figures['scenes']:>7}{cells}{errors}")
        for kind, figures in look["kinds"].items():
            missed = [name for name, met in figures["met"].items() if met is False]
            self.stdout.write(f"{kind}: " + ("every target met" if not missed else "missed " + ", ".join(missed)))
