"""What the benchmarks share: their own database, timing summaries, tables, JSON, the machine.

Each benchmark runs against its own database of the embedded (or configured) PostgreSQL, so the
demo and the tests are never disturbed.
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import random
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def server_url(database: str) -> str:
    """URL of ``database`` on the server of ``BENCH_DATABASE_URL``, ``DATABASE_URL`` or the embedded one."""
    from demo_project.services import ensure_running

    endpoints = ensure_running()
    os.environ.setdefault("CELERY_BROKER_URL", endpoints.broker_url)
    base = os.environ.get("BENCH_DATABASE_URL", endpoints.database_url).rsplit("/", 1)[0]
    return f"{base}/{database}"


def create_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def setup_django(database: str) -> str:
    """Django (the demo store's settings, DEBUG off) on its own, migrated database; returns its URL."""
    url = server_url(database)
    create_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ["SHOP_CLIP_MEDIA_ROOT"] = str(ROOT / "var" / "bench-media" / database)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["DJANGO_DEBUG"] = "0"  # DEBUG keeps every query in memory and slows each one
    os.environ["DJANGO_SETTINGS_MODULE"] = "demo_project.settings"  # the demo store, also under pytest
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return url


def add_database(alias: str, name: str) -> None:
    """A second DATABASES alias for database ``name`` on the same server as "default"."""
    from django.db import connections

    connections.settings[alias] = {**connections.settings["default"], "NAME": name}


def clone_database(url: str, name: str, attempts: int = 30) -> None:
    """``name``, a file copy of the database of ``url`` (dropped first if it exists).

    CREATE DATABASE ... TEMPLATE needs the template to have no other sessions: the caller closes
    its own, and an autovacuum worker still in it is waited for.
    """
    import psycopg

    base, template = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for attempt in range(attempts):
            try:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
                return
            except psycopg.errors.ObjectInUse:
                if attempt == attempts - 1:
                    raise
                time.sleep(2)


NR_HUGEPAGES = Path("/proc/sys/vm/nr_hugepages")  # the kernel's reserved 2 MB pages (sysctl vm.nr_hugepages)


def restart_postgres(shared_buffers: str | None = None, huge_pages: str | None = None) -> bool:
    """Restart the embedded PostgreSQL, so its shared buffers start empty (and are
    ``shared_buffers`` large from now on, when given); False (nothing done) on a server of
    ``BENCH_DATABASE_URL``.  ``huge_pages`` "on": its shared memory in 2 MB pages, reserved here
    first (root; ``reserve_huge_pages``); "off" or "try": that setting (try, the default, finds
    none reserved on most machines).  Django's connections are closed first and reopen on use."""
    if os.environ.get("BENCH_DATABASE_URL"):
        return False
    from django.db import connections

    from demo_project import services

    connections.close_all()
    pgdata = services.DEFAULT_DATA_DIR / "postgres"
    options = _server_options(pgdata, shared_buffers, huge_pages)
    ctl = [services._pg_bin("pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "-t", "120"]
    subprocess.run([*ctl, "stop"], check=True, capture_output=True, **services._as_pg_user())
    if huge_pages == "on":
        reserve_huge_pages(pgdata, options)
    # -l: the server's output goes to its log, not to this pipe (which would then never close).
    subprocess.run([*ctl, "-l", str(pgdata / "server.log"), "-o", options, "start"], check=True,
                   capture_output=True, **services._as_pg_user())
    return True


def reserve_huge_pages(pgdata: Path, options: str) -> int:
    """Reserve as many 2 MB pages as the stopped server with ``options`` needs (PostgreSQL's
    ``shared_memory_size_in_huge_pages``), if fewer are; how many are reserved.  Root only: the
    kernel's ``vm.nr_hugepages``, as a DBA sets it in sysctl.conf."""
    from demo_project import services

    shown = subprocess.run([services._pg_bin("postgres"), "-D", str(pgdata), *shlex.split(options), "-c",
                            "huge_pages=off", "-C", "shared_memory_size_in_huge_pages"], check=True,
                           capture_output=True, text=True, **services._as_pg_user())
    needed = int(shown.stdout.strip())
    reserved = huge_pages_reserved()
    if reserved < needed:
        try:
            NR_HUGEPAGES.write_text(f"{needed}\n")
        except OSError as exc:
            raise SystemExit(f"huge pages: {needed} 2 MB pages are needed and {reserved} are reserved; as root, "
                             f"`sysctl -w vm.nr_hugepages={needed}` ({exc})") from exc
        reserved = huge_pages_reserved()
        if reserved < needed:
            raise SystemExit(f"huge pages: the kernel reserved {reserved} of the {needed} 2 MB pages asked for "
                             "(memory too fragmented); reserve them at boot")
    return reserved


def huge_pages_reserved() -> int:
    """How many 2 MB pages the kernel holds reserved now (0 where it cannot say)."""
    try:
        return int(NR_HUGEPAGES.read_text())
    except (OSError, ValueError):
        return 0


def release_huge_pages(reserved: int) -> None:
    """Give back the pages ``reserve_huge_pages`` took beyond ``reserved`` (they are memory no
    other process can use), once no server holds them."""
    if huge_pages_reserved() > reserved:
        try:
            NR_HUGEPAGES.write_text(f"{reserved}\n")
        except OSError:
            pass


def _server_options(pgdata: Path, shared_buffers: str | None, huge_pages: str | None = None) -> str:
    """The running server's options (its postmaster.opts, less the binary and -D) with
    ``shared_buffers`` and ``huge_pages`` set where given: pg_ctl's -o replaces them all."""
    args = shlex.split((pgdata / "postmaster.opts").read_text())[1:]
    if "-D" in args:
        at = args.index("-D")
        del args[at:at + 2]
    for name, value in (("shared_buffers", shared_buffers), ("huge_pages", huge_pages)):
        if value:
            args = [arg for arg in args if not arg.startswith(f"{name}=")]
            args += ["-c", f"{name}={value}"]
    args = [arg for i, arg in enumerate(args) if not (arg == "-c" and (i + 1 == len(args) or args[i + 1] == "-c"))]
    return shlex.join(args)


def drop_os_caches() -> bool:
    """Write dirty pages and drop the OS page cache (root only), so reads come from disk; whether
    it was done.  Every process on the machine loses its cached files."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p99/mean in milliseconds of a list of durations in seconds."""
    ms = np.asarray(seconds, dtype=np.float64) * 1000
    if not len(ms):
        return {"p50_ms": float("nan"), "p99_ms": float("nan"), "mean_ms": float("nan"), "samples": 0}
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3),
            "mean_ms": round(float(ms.mean()), 3), "samples": int(len(ms))}


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain-text table, columns as wide as their widest cell."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    print(f"\n{title}")
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.rjust(w) if _numeric(v) else v.ljust(w) for v, w in zip(row, widths, strict=True)))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    print(f"\nwrote {path}")


def machine() -> dict[str, Any]:
    """What the numbers came from: CPU, cores, memory, load at the start (the machine is shared)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    try:
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": memory_gb, "python": platform.python_version(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


# -- HTTP under load ---------------------------------------------------------------------------
@dataclass
class Load:
    latencies: list[float]
    rows: list[int]
    errors: int
    seconds: float


def _rows(answer: dict) -> int:
    """Products in an answer: a page's results, or every group's (shop / complete the look)."""
    if "results" in answer:
        return len(answer["results"])
    return sum(len(group["results"]) for group in answer["groups"])


def run_load(port: int, next_path: Callable[[random.Random], str], clients: int, seconds: float) -> Load:
    """``clients`` threads send GETs to 127.0.0.1 for ``seconds``, each waiting for its answer.

    Answers are JSON with a ``results`` list (or ``groups`` of them); the products in it are recorded
    as the rows returned.
    """
    latencies: list[float] = []
    rows: list[int] = []
    errors = [0]
    deadline = time.perf_counter() + seconds
    lock = threading.Lock()

    def client(number: int) -> None:
        rng = random.Random(number)
        while time.perf_counter() < deadline:
            path = next_path(rng)
            start = time.perf_counter()
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                connection.request("GET", path)
                response = connection.getresponse()
                body = response.read()
                connection.close()
                ok = response.status == 200
            except OSError:
                ok = False
            elapsed = time.perf_counter() - start
            with lock:
                if ok:
                    latencies.append(elapsed)
                    rows.append(_rows(json.loads(body)))
                else:
                    errors[0] += 1

    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Load(latencies, rows, errors[0], time.perf_counter() - start)


class Server:
    """gunicorn serving the demo store (on this process's ``DATABASE_URL``) on a free loopback port."""

    def __init__(self, workers: int, log: Path, app: str = "demo_project.wsgi:application") -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        env = dict(os.environ, DJANGO_SETTINGS_MODULE="demo_project.settings", DJANGO_DEBUG="0",
                   OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false",
                   SHOP_CLIP_LOG_LEVEL="WARNING",  # one torch thread per worker: workers share the cores
                   SHOP_CLIP_RATE_IMAGE="off", SHOP_CLIP_RATE_SEARCH="off")  # the load measures the server
        self.log = open(log, "wb")  # closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", app, "--workers", str(workers),
             "--bind", f"127.0.0.1:{self.port}", "--timeout", "120", "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, path: str = "/api/shop-clip/status/", timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.process.returncode}); see {self.log.name}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", path)
                if connection.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"gunicorn not ready in {timeout}s; see {self.log.name}")

    def stop(self) -> None:
        stop_process_group(self.process)
        self.log.close()


def stop_process_group(process: subprocess.Popen, grace: float = 30) -> None:
    """SIGTERM a server started in its own session (it and its children), SIGKILL after ``grace``."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
