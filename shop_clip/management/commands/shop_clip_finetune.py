"""Fine-tune the configured CLIP on the store's own (image, title + description) pairs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from shop_clip.catalog import get_catalog
from shop_clip.conf import shop_clip_settings
from shop_clip.encoders.sentence_transformers import choose_device, resolve_model_path
from shop_clip.images import ImageRejected, load_image, read_limited
from shop_clip.management.output import at_least_one, share


class Command(BaseCommand):
    help = ("Fine-tune the configured model on this store's products (held-out split, before/after "
            "metrics) and save a model directory; then set SHOP_CLIP['ENCODER']['MODEL'] to it and run "
            "`shop_clip_index --all`: search switches to it when its index is complete.")

    def add_arguments(self, parser):
        parser.add_argument("--output", type=Path, required=True, help="directory for the fine-tuned model")
        parser.add_argument("--epochs", type=at_least_one, default=3)
        parser.add_argument("--batch-size", type=at_least_one, default=32)
        parser.add_argument("--lr", type=float, default=None, help="default: 1e-4 for small models, 1e-5 otherwise")
        parser.add_argument("--holdout", type=share, default=0.2,
                            help="share of products kept for evaluation, above 0 and below 1")
        parser.add_argument("--limit", type=at_least_one, default=None, help="use at most this many products")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, **options):
        from shop_clip.training.finetune import finetune

        if options["output"].exists() and not options["output"].is_dir():
            raise CommandError(f"--output {options['output']} is a file; name a folder for the model")
        if options["lr"] is not None and not options["lr"] > 0:
            raise CommandError(f"--lr must be above 0, not {options['lr']}")
        pairs = self._pairs(options["limit"])
        if len(pairs) < 4:
            raise CommandError(f"only {len(pairs)} products with a readable image: fine-tuning needs more")
        order = np.random.default_rng(options["seed"]).permutation(len(pairs))
        held = max(2, int(len(pairs) * options["holdout"]))
        if len(pairs) - held < 2:
            raise CommandError(f"--holdout {options['holdout']} keeps {held} of {len(pairs)} products for "
                               "evaluation and leaves too few to train on: lower it")
        evaluation = [pairs[i] for i in order[:held]]
        training = [pairs[i] for i in order[held:]]
        model = resolve_model_path(str(shop_clip_settings.ENCODER["MODEL"]))
        lr = options["lr"] or (1e-4 if "mini" in str(model) else 1e-5)
        device = choose_device(shop_clip_settings.ENCODER["DEVICE"])
        self.stdout.write(f"fine-tuning {model} on {len(training)} products ({len(evaluation)} held out), "
                          f"{options['epochs']} epochs, lr {lr}, on {device}")
        result = finetune(model, training, options["output"], epochs=options["epochs"],
                          batch_size=options["batch_size"], lr=lr, seed=options["seed"], device=device,
                          eval_pairs=evaluation)
        self.stdout.write(f"loss {result['first_loss']:.3f} -> {result['last_loss']:.3f} "
                          f"in {result['steps']} steps, {result['seconds']:.0f}s")
        self.stdout.write("held-out text -> image retrieval   before   after")
        for key in result["after"]:
            self.stdout.write(f"  {key:<32} {result['before'][key]:>6.3f}  {result['after'][key]:>6.3f}")
        self.stdout.write(self.style.SUCCESS(
            f"saved {result['output_dir']}. Next: SHOP_CLIP['ENCODER']['MODEL'] = {str(result['output_dir'])!r}, "
            "then `python manage.py shop_clip_index --all`"))

    def _pairs(self, limit: int | None):
        catalog = get_catalog()
        products = catalog.product_queryset().order_by("pk")
        if limit:
            products = products[:limit]
        products = list(products)
        refs = {}
        for ref in catalog.image_refs([p.pk for p in products]):
            refs.setdefault(ref.product_id, ref)  # one image per product is enough to learn its text
        pairs = []
        for product in tqdm(products, desc="loading images", unit="product"):
            ref = refs.get(product.pk)
            if ref is None:
                continue
            try:
                with ref.file.open("rb") as handle:
                    pairs.append((load_image(read_limited(handle)), catalog.text(product)))
            except (ImageRejected, OSError):
                continue  # the indexer reports bad images; training just skips them
        return pairs
