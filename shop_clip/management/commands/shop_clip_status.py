"""Counts of vector rows by state and model."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand
from django.db.models import Count

from shop_clip.catalog import get_catalog
from shop_clip.keywords import keyword_search_enabled
from shop_clip.models import ProductDocument, ProductFlag, ProductVector
from shop_clip.status import index_status


class Command(BaseCommand):
    help = "Show how many product images are embedded, pending or failed, per model, and each model's backend."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.add_argument("--failed", action="store_true", help="list failed images with the reason")

    def handle(self, *args, **options):
        data = index_status()
        data["keyword_documents"] = keyword_counts()
        data["open_flags"] = dict(sorted(ProductFlag.objects.filter(reviewed_at__isnull=True)
                                         .values_list("kind").annotate(n=Count("pk"))))
        if options["failed"]:
            data["failed_images"] = failed_images()
        if options["json"]:
            self.stdout.write(json.dumps(data, indent=2, default=str))
            return
        self.stdout.write(f"{'model':<40} {'total':>8} {'embedded':>9} {'pending':>8} {'failed':>7} {'index':>18}")
        for row in data["models"]:
            name = row["model"] + (" (active)" if row["active"] else "")
            self.stdout.write(f"{name:<40} {row['total']:>8} {row['embedded']:>9} {row['pending']:>8} "
                              f"{row['failed']:>7} {row['index'] + ' (' + row['index_kind'] + ')':>18}")
        if not data["models"]:
            self.stdout.write("nothing indexed yet: run `python manage.py shop_clip_index`")
        for row in data["models"]:
            backend = row["backend"] or "a backend not recorded (indexed before spaces recorded one)"
            self.stdout.write(f"{row['model']}: {row['dim']}-d vectors from {backend}")
        if keywords := data["keyword_documents"]:
            line = f"keyword documents: {keywords['documents']} of {keywords['products']} products"
            if keywords["documents"] < keywords["products"]:
                line += (f" ({keywords['products'] - keywords['documents']} missing: "
                         "run `python manage.py shop_clip_index --missing`)")
            self.stdout.write(line)
        if flags := data["open_flags"]:
            kinds = ", ".join(f"{kind} {count}" for kind, count in flags.items())
            self.stdout.write(f"open moderation flags: {sum(flags.values())} ({kinds}); review them in the admin "
                              "(shop-clip > Product flags)")
        if options["failed"]:
            failed = data["failed_images"]
            for row in failed["images"]:
                self.stdout.write(f"product {row['product']} image {row['image_key']} ({row['model']}): {row['error']}")
            if failed["total"] > len(failed["images"]):
                self.stdout.write(f"the first {len(failed['images'])} of {failed['total']} failed images; "
                                  "the admin's vector rows list them all (filter by status)")


FAILED_SHOWN = 200


def keyword_counts() -> dict | None:
    """Products and their keyword documents, where keyword search is on."""
    if not keyword_search_enabled():
        return None
    return {"products": get_catalog().product_model._default_manager.count(),
            "documents": ProductDocument.objects.count()}


def failed_images() -> dict:
    """The first ``FAILED_SHOWN`` failed images with their reasons, and how many failed in all."""
    failed = (ProductVector.objects.filter(status=ProductVector.Status.FAILED)
              .order_by("space_id", "product_id", "image_key"))
    rows = failed.values_list("product_id", "image_key", "space_id", "error")[:FAILED_SHOWN]
    return {"total": failed.count(), "images": [{"product": product, "image_key": key, "model": model, "error": error}
                                                for product, key, model, error in rows]}
