from django.core.management.base import BaseCommand

from demo_project.catalog.loading import load_demo_catalog


class Command(BaseCommand):
    help = "Add generated products (with images) to the demo store and queue them for embedding."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, default=600)
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, **options):
        ids = load_demo_catalog(options["count"], options["seed"])
        self.stdout.write(f"added {len(ids)} products")
