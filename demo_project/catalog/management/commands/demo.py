"""Run the whole demo store: services, migrations, catalog, a worker, indexing, the site."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from demo_project import services
from demo_project.catalog.models import Product
from shop_clip.tag_rules import tagging_enabled

# --insecure: runserver serves the admin's static files with DEBUG off too (the demo has no web server).
RUNSERVER_OPTIONS = {"use_reloader": False, "insecure_serving": True}


def _interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


class Command(BaseCommand):
    help = "Start the demo store on http://127.0.0.1:8000 (Ctrl-C stops everything it started)."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, default=600, help="products to generate on first run")
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument("--no-server", action="store_true", help="set up and index, then exit")

    def handle(self, *args, **options):
        self.stdout.write(f"database {settings.DATABASES['default']['HOST']}:{settings.DATABASES['default']['PORT']}"
                          f"/{settings.DATABASES['default']['NAME']}, broker {settings.CELERY_BROKER_URL}")
        # `kill` or a closed terminal stops everything too, as Ctrl-C does (the worker runs in its
        # own session, so it would outlive this process otherwise).
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, _interrupt)
        call_command("migrate", verbosity=0)
        if not Product.objects.exists():
            call_command("demo_catalog", count=options["count"])
        worker = self._start_worker()
        try:
            call_command("shop_clip_index", "--missing", "--wait", "--timeout", "1800")
            if tagging_enabled():  # products embedded before tagging was configured have none yet
                call_command("shop_clip_tag", "--missing")
            call_command("shop_clip_status")
            if not options["no_server"]:
                self._load_model()
                self.stdout.write(self.style.SUCCESS(f"demo store on http://{options['addr']}/  (Ctrl-C to stop)"))
                call_command("runserver", options["addr"], **RUNSERVER_OPTIONS)
        except KeyboardInterrupt:
            pass
        finally:
            self._stop(worker)

    def _load_model(self) -> None:
        """The server runs in this process: its first search then does not wait seconds for the model."""
        from shop_clip.encoders import get_encoder
        from shop_clip.spaces import active_space

        started = time.perf_counter()
        encoder = get_encoder(model=active_space().model_ref)
        encoder.encode_texts(["a red dress"])
        self.stdout.write(f"model {encoder.model_id} loaded for search in {time.perf_counter() - started:.1f}s")

    def _start_worker(self) -> subprocess.Popen:
        log = settings.DATA_DIR / "worker.log"
        self.stdout.write(f"starting a Celery worker (log: {log})")
        env = {**os.environ, "DATABASE_URL": os.environ["DATABASE_URL"],
               "CELERY_BROKER_URL": settings.CELERY_BROKER_URL}
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "demo_project", "worker", "-Q", settings.SHOP_CLIP["QUEUE"],
             "-c", "2", "--loglevel", "INFO", "-n", "demo@%h"],  # the children split the cores (README)
            env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True,
        )

    def _stop(self, worker: subprocess.Popen) -> None:
        self.stdout.write("stopping the worker")
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        if services.started_here:
            self.stdout.write("stopping embedded PostgreSQL and Redis (data stays in var/)")
            services.stop(settings.DATA_DIR)
