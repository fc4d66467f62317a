"""Production defaults: the container's settings pass `check --deploy`, no default secret key, DEBUG off,
browser protections on every response, and the demo still serving its media and static files."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management.utils import get_random_secret_key
from django.test import RequestFactory

from demo_project.catalog.management.commands.demo import RUNSERVER_OPTIONS
from demo_project.services import running_endpoints
from demo_project.settings import local_secret_key, uses_embedded_services

ROOT = Path(__file__).resolve().parent.parent
# Hosts of docker-compose.yml: the settings load with them, and no check here connects.
DEPLOYED = {"DATABASE_URL": "postgres://shop:shop@db:5432/shop", "CELERY_BROKER_URL": "redis://redis:6379/0"}
INTERPOLATION = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")
PRINT_SETTINGS = ("import json; from django.conf import settings as s; print(json.dumps("
                  "{'DEBUG': s.DEBUG, 'SECRET_KEY': s.SECRET_KEY, 'SECURE_SSL_REDIRECT': s.SECURE_SSL_REDIRECT}))")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without its Django and service settings, plus ``extra``."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("DJANGO_")
           and name not in ("DATABASE_URL", "CELERY_BROKER_URL", "SHOP_CLIP_DATA_DIR")}
    return {**env, "DJANGO_SETTINGS_MODULE": "demo_project.settings", "HF_HUB_OFFLINE": "1", **extra}


def run_python(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def dockerfile_env() -> dict[str, str]:
    """The ENV lines of the Dockerfile."""
    env = {}
    for line in (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines():
        if line.startswith("ENV "):
            env.update(item.split("=", 1) for item in shlex.split(line[4:]))
    return env


def compose_env(service: str, shell: dict[str, str]) -> dict[str, str]:
    """The environment docker compose gives ``service`` when the shell exports ``shell``."""

    def substitute(match: re.Match) -> str:
        name, operator, argument = match.groups()
        if shell.get(name):
            return shell[name]
        if operator == "?":
            raise KeyError(f"compose refuses to start: {name}: {argument}")
        return argument if operator == "-" else ""

    environment = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"][service]["environment"]
    return {name: INTERPOLATION.sub(substitute, str(value)) for name, value in environment.items()}


@pytest.fixture
def embedded_data_dir(tmp_path):
    """A data folder that knows the running embedded servers (as var/ does), with no secret key yet."""
    if running_endpoints() is None:
        pytest.skip("the embedded servers are not running")
    shutil.copy(ROOT / "var" / "services.json", tmp_path / "services.json")
    return tmp_path


def local_env(data_dir: Path) -> dict[str, str]:
    """The environment of `make demo` on ``data_dir``, once its settings have found the embedded servers."""
    endpoints = running_endpoints(data_dir)
    return clean_env(SHOP_CLIP_DATA_DIR=str(data_dir), DATABASE_URL=endpoints.database_url,
                     CELERY_BROKER_URL=endpoints.broker_url)


@pytest.mark.parametrize("container", ["image alone", "compose web"])
def test_container_settings_pass_check_deploy(container, tmp_path):
    secret = {"DJANGO_SECRET_KEY": get_random_secret_key()}
    env = dockerfile_env() | (compose_env("web", secret) if container == "compose web" else {**DEPLOYED, **secret})
    env |= {"HF_HOME": str(tmp_path / "hf"), "SHOP_CLIP_MEDIA_ROOT": str(tmp_path / "media")}  # the volume's paths
    result = run_python(clean_env(**env), "manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_local_defaults_are_what_check_deploy_flags(embedded_data_dir):
    """The same check on the local demo's settings (plain http) fails, so the test above can fail."""
    result = run_python(local_env(embedded_data_dir), "manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    assert {"security.W004", "security.W008", "security.W012", "security.W016"} <= set(
        re.findall(r"security\.W\d+", result.stdout + result.stderr))


def test_compose_and_image_never_hold_a_secret_key():
    with pytest.raises(KeyError, match="DJANGO_SECRET_KEY"):
        compose_env("web", {})
    for worker in ("worker-gpu", "worker-cpu"):
        with pytest.raises(KeyError, match="DJANGO_SECRET_KEY"):
            compose_env(worker, {})
    assert "DJANGO_SECRET_KEY" not in dockerfile_env()
    assert dockerfile_env()["DJANGO_DEBUG"] == "0"


def test_a_deployment_without_a_secret_key_refuses_to_start(tmp_path):
    result = run_python(clean_env(SHOP_CLIP_DATA_DIR=str(tmp_path), **DEPLOYED), "-c", PRINT_SETTINGS)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "Set DJANGO_SECRET_KEY" in result.stderr
    assert not (tmp_path / "secret_key").exists()


def test_debug_is_asked_for_and_then_runs_with_a_local_key(tmp_path):
    env = clean_env(SHOP_CLIP_DATA_DIR=str(tmp_path), DJANGO_DEBUG="1", **DEPLOYED)
    result = run_python(env, "-c", PRINT_SETTINGS)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["DEBUG"] is True
    assert json.loads(result.stdout)["SECRET_KEY"] == (tmp_path / "secret_key").read_text()


def test_local_demo_runs_without_debug_on_a_key_kept_in_the_data_dir(embedded_data_dir):
    """`make demo` and a second shell's `manage.py shop_clip_status`: no environment at all."""
    env = local_env(embedded_data_dir)
    first, second = run_python(env, "-c", PRINT_SETTINGS), run_python(env, "-c", PRINT_SETTINGS)
    assert first.returncode == 0, first.stderr
    loaded = json.loads(first.stdout)
    assert loaded["DEBUG"] is False and loaded["SECURE_SSL_REDIRECT"] is False
    key_file = embedded_data_dir / "secret_key"
    assert loaded["SECRET_KEY"] == key_file.read_text() and len(loaded["SECRET_KEY"]) >= 50
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert json.loads(second.stdout)["SECRET_KEY"] == loaded["SECRET_KEY"]


def test_local_secret_key_is_created_once(tmp_path):
    path = tmp_path / "new" / "secret_key"
    key = local_secret_key(path)
    assert local_secret_key(path) == key and len(key) >= 50
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["secret_key"]  # no temporary file left
    assert local_secret_key(tmp_path / "other") != key


def test_only_the_embedded_servers_count_as_local(embedded_data_dir):
    database, broker = running_endpoints().database_url, running_endpoints().broker_url
    assert uses_embedded_services(database.rsplit("/", 1)[0] + "/test_db", broker[:-1] + "15", embedded_data_dir)
    assert not uses_embedded_services(DEPLOYED["DATABASE_URL"], broker, embedded_data_dir)
    assert not uses_embedded_services(database, DEPLOYED["CELERY_BROKER_URL"], embedded_data_dir)
    assert not uses_embedded_services(database, broker, embedded_data_dir / "elsewhere")


def test_responses_deny_framing_and_sniffing(client, db):
    response = client.get("/")
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    csrf = response.cookies["csrftoken"]
    assert csrf["httponly"] and csrf["samesite"] == "Lax"


def test_media_is_served_with_debug_off_and_only_from_media_root(client, settings, tmp_path):
    settings.DEBUG = False
    settings.MEDIA_ROOT = tmp_path / "media"
    (tmp_path / "media" / "products").mkdir(parents=True)
    (tmp_path / "media" / "products" / "shirt.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (tmp_path / "outside.txt").write_text("private")
    response = client.get(settings.MEDIA_URL + "products/shirt.jpg")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"\xff\xd8 not really a jpeg"
    assert response["Content-Type"] == "image/jpeg" and response["X-Content-Type-Options"] == "nosniff"
    assert client.get(settings.MEDIA_URL + "products/missing.jpg").status_code == 404
    assert client.get(settings.MEDIA_URL + "../outside.txt").status_code in (400, 404)


def test_demo_runserver_serves_the_admin_static_files_with_debug_off(settings):
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.contrib.staticfiles.management.commands.runserver import Command

    settings.DEBUG = False
    handler = Command().get_handler(use_static_handler=True, **RUNSERVER_OPTIONS)
    assert isinstance(handler, StaticFilesHandler)
    response = handler.get_response(RequestFactory().get("/static/admin/css/base.css"))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/css")
    plain = Command().get_handler(use_static_handler=True, **{**RUNSERVER_OPTIONS, "insecure_serving": False})
    assert not isinstance(plain, StaticFilesHandler)  # what runserver does without --insecure
