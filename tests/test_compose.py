"""docker-compose.yml cannot run here (no container engine): keep it consistent with the settings."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_compose_variables_are_read_by_the_settings():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    settings_source = (ROOT / "demo_project" / "settings.py").read_text()
    read = set(re.findall(r'os\.environ(?:\.get)?[\[(]"([A-Z_]+)"', settings_source))
    set_by_compose = set()
    for name, service in compose["services"].items():
        if name not in ("db", "redis"):  # third-party images read their own variables
            set_by_compose |= set(service.get("environment", {}))
    ignored = {"HF_HUB_OFFLINE", "HF_HOME"}  # read by huggingface_hub itself
    assert set_by_compose - ignored <= read, set_by_compose - ignored - read
    assert {"DATABASE_URL", "CELERY_BROKER_URL", "SHOP_CLIP_MODEL", "SHOP_CLIP_DEVICE"} <= set_by_compose


def test_workers_consume_the_shop_clip_queue_and_gpu_is_reserved():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("worker-gpu", "worker-cpu"):
        assert "-Q shop_clip" in services[name]["command"]
    devices = services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert services["db"]["image"].startswith("pgvector/pgvector")
