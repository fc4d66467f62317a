"""Every hostile upload shape (tests/hostile_images.py) posted to the photo endpoints: 200 or a 4xx
with a JSON ``detail``, never a 500; and the peak memory ``load_image`` reaches on each shape,
each measured in a process of its own."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from shop_clip.conf import shop_clip_settings

from .conftest import ROOT, committed_demo_catalog, noisy_jpeg, png_bytes
from .hostile_images import hostile_uploads

CATALOG_SIZE = 30
API = "/api/shop-clip"
CORPUS = hostile_uploads(shop_clip_settings.MAX_UPLOAD_BYTES)
# Peak resident memory one load_image call may add; to be tightened to the README's formula.
MEMORY_BOUND = 300 * 2**20


@pytest.fixture(scope="module")
def catalog(django_db_setup, django_db_blocker):
    with committed_demo_catalog(django_db_blocker, CATALOG_SIZE, seed=31) as ids:
        yield ids


@pytest.fixture
def api(catalog, db):
    return Client()


def _address_space() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


@pytest.fixture
def memory_headroom():
    """An upload that gets past the checks fails with MemoryError 4 GiB of address space on,
    instead of taking the memory of a machine other test runs share."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _address_space() + 4 * 2**30
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    yield
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.mark.parametrize("endpoint", ["search/image", "shop-the-look"])
@pytest.mark.parametrize("upload", CORPUS, ids=[upload.name for upload in CORPUS])
def test_each_hostile_upload_is_answered_or_refused_with_a_message(api, memory_headroom, upload, endpoint):
    photo = SimpleUploadedFile(f"{upload.name}.bin", upload.data, content_type="application/octet-stream")
    response = api.post(f"{API}/{endpoint}/", {"image": photo})
    assert response.status_code in upload.answers, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response.content[:300]
    body = response.json()
    if response.status_code == 200:
        assert "results" in body or "groups" in body, body
    else:
        assert body.get("detail"), body


def test_the_upload_limit_is_the_setting(api, settings):
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "MAX_UPLOAD_BYTES": 32 * 1024}
    photo = noisy_jpeg(5, 200)
    assert len(photo) > 32 * 1024
    response = api.post(f"{API}/search/image/", {"image": SimpleUploadedFile("photo.jpg", photo)})
    assert response.status_code == 413 and response.json().get("detail"), response.content[:300]
    small = SimpleUploadedFile("photo.png", png_bytes(size=(64, 64)))
    assert api.post(f"{API}/search/image/", {"image": small}).status_code == 200


# Runs in a fresh interpreter with the tests' SHOP_CLIP; each case is decoded in a child forked
# once PIL and shop_clip are imported, so its ru_maxrss growth is that one decode's peak.
MEASURE = r"""
import json, multiprocessing, resource, sys

from django.conf import settings

settings.configure(SHOP_CLIP=json.loads(sys.argv[1]))

from shop_clip.images import ImageRejected, load_image
from tests.hostile_images import hostile_uploads


def address_space():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


def control(data):
    block = bytearray(len(data))  # zero pages are not resident until written
    block[::4096] = b"\1" * len(block[::4096])


def measure(decode, data, pipe):
    limit = address_space() + 2 * 2**30  # a decode that runs away fails here, not the machine
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        decode(data)
        outcome = "decoded"
    except ImageRejected as exc:
        outcome = f"refused: {exc}"
    except BaseException as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    pipe.send((outcome, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024))


fork = multiprocessing.get_context("fork")
cases = [("control: 100 MB written", control, bytes(100 * 2**20))]
cases += [(case.name, load_image, case.data) for case in hostile_uploads(int(sys.argv[2]))]
results = {}
for name, decode, data in cases:
    receiver, sender = fork.Pipe(duplex=False)
    child = fork.Process(target=measure, args=(decode, data, sender))
    child.start()
    results[name] = receiver.recv() if receiver.poll(60) else ("no answer in 60 s", None)
    child.kill()
    child.join()
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def decode_peaks() -> dict[str, tuple[str, int | None]]:
    """Case name -> (outcome, bytes the peak resident memory grew by) of ``load_image``."""
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, json.dumps(shop_clip_settings.user_settings, default=str),
         str(shop_clip_settings.MAX_UPLOAD_BYTES)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return {name: tuple(result) for name, result in json.loads(done.stdout.splitlines()[-1]).items()}


def test_the_memory_probe_sees_an_allocation(decode_peaks):
    outcome, grown = decode_peaks["control: 100 MB written"]
    assert outcome == "decoded" and 95 * 2**20 <= grown <= 140 * 2**20, (outcome, grown)


@pytest.mark.parametrize("upload", CORPUS, ids=[upload.name for upload in CORPUS])
def test_decoding_each_hostile_upload_stays_under_the_memory_bound(decode_peaks, upload):
    outcome, grown = decode_peaks[upload.name]
    assert outcome == "decoded" or outcome.startswith("refused:"), outcome
    assert grown is not None and grown < MEMORY_BOUND, (f"{grown / 2**20:.0f} MB", outcome)
