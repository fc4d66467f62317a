"""Load what search reads into PostgreSQL's shared buffers, with a progress bar: after a restart."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from tqdm import tqdm

from shop_clip.prewarm import PrewarmUnavailable, install, prewarm, relations
from shop_clip.read_db import configured_alias, reading
from shop_clip.spaces import NoActiveSpace, active_space


class Command(BaseCommand):
    help = ("Load the active model's vector index, its rows and the product tables search reads into "
            "PostgreSQL's shared buffers (pg_prewarm), so the first searches after a restart are as fast "
            "as later ones.")

    def add_arguments(self, parser):
        parser.add_argument("--database", help="the database alias to warm (default: SHOP_CLIP['READ_DATABASE'], "
                                               "where search reads)")

    def handle(self, *args, **options):
        using = options["database"] or configured_alias()
        if using not in connections.settings:
            raise CommandError(f"--database {using!r} is not in DATABASES (aliases: {', '.join(connections.settings)})")
        try:
            install(using)
            with reading(using):  # the space that database holds active
                space = active_space()
        except (PrewarmUnavailable, NoActiveSpace) as exc:
            raise CommandError(str(exc)) from exc
        names = relations(space, using)
        with tqdm(total=len(names), desc="prewarm", unit="relation") as bar:
            done = prewarm(space, using,
                           loaded=lambda item: (bar.set_postfix_str(item.relation[-40:]), bar.update()))
        for item in done:
            where = "shared buffers" if item.mode == "buffer" else "the OS page cache (shared buffers are full)"
            self.stdout.write(f"{item.relation}: {item.bytes / 2**20:,.1f} MB into {where} in {item.seconds:.2f} s")
        in_buffers, total = (sum(item.bytes for item in done if item.mode == "buffer"),
                             sum(item.bytes for item in done))
        self.stdout.write(self.style.SUCCESS(
            f"loaded {len(done)} relations of {space.model_id} on {using!r}: {total / 2**20:,.0f} MB, "
            f"{in_buffers / 2**20:,.0f} MB of it into shared buffers"))
        if in_buffers < total:
            self.stdout.write("give PostgreSQL shared_buffers larger than the index and its rows to keep them all "
                              "in its own memory (README: Production settings)")
