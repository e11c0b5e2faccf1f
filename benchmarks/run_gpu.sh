#!/usr/bin/env bash
# The GPU check of issue 8 as ONE script for a lent GPU machine (see README "Performance").
# It expects, in the repository root, a folder .whl/ (made here by
# benchmarks/fetch_device_wheels.sh and carried along) with the wheels the device's Python
# lacks (mmengine, mmdet, ensemble-boxes, pycocotools, ...) and the mmcv 2.1.0 sdist,
# and writes its JSON files, the op profile and the mmcv build log to $OUT (at most 8 files
# come back from the device: keep it that way; the caller tees stdout to $OUT/run.log).
#
#   OUT=/tmp/out bash benchmarks/run_gpu.sh
#
# Local dry run of the same steps on a CPU (no wheels, no mmcv build, tiny sizes):
#   LOCAL=1 SKIP_COMPILE=1 OUT=/tmp/out DEVICE=cpu BATCH=4 NUM_TRAIN=40 LOOP_S=5 bash benchmarks/run_gpu.sh
set -euo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:?set OUT}
DEVICE=${DEVICE:-cuda}
BATCH=${BATCH:-256}
NUM_TRAIN=${NUM_TRAIN:-2000}
LOOP_S=${LOOP_S:-45}
WORKERS=${WORKERS:-$(nproc)}
PY=${PYTHON:-python3}
T0=$SECONDS
log() { echo "[run_gpu $((SECONDS - T0))s] $*"; }

if [[ "${LOCAL:-0}" != "1" ]]; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
  log "wheels installed"
  # mmdet imports mmcv.ops at import time, so mmcv needs its compiled ops. ADPD uses none
  # of them, so the CPU ops are enough (CUDA hidden during the build: ~1-2 min on 16 cores
  # instead of a full CUDA build). -std=c++20: torch's recent headers need it.
  mkdir -p /tmp/mmcvsrc && tar -xzf .whl/mmcv-2.1.0.tar.gz -C /tmp/mmcvsrc
  src=/tmp/mmcvsrc/mmcv-2.1.0
  sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
  build() {
    (cd "$src" && CUDA_VISIBLE_DEVICES= FORCE_CUDA=0 MMCV_WITH_OPS=1 MAX_JOBS=$WORKERS \
       "$PY" setup.py build_ext --inplace > "$OUT/mmcv_build.log" 2>&1)
  }
  # an older torch may still want C++17: retry once with the sdist's own flag
  build || { sed -i 's/-std=c++20/-std=c++17/g' "$src/setup.py"; build; } \
    || { tail -30 "$OUT/mmcv_build.log"; exit 1; }
  export PYTHONPATH=$src:$PYTHONPATH
  log "mmcv ops built"
fi
"$PY" -c "import mmcv._ext, mmdet.models, mmadpd, torch; print('stack ok', torch.__version__, torch.cuda.is_available())"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>/dev/null || true

DATA=/tmp/phantom_bench
"$PY" tools/dataset_converters/make_synthetic_cxr.py $DATA --num-train "$NUM_TRAIN" \
  --num-val 8 --num-test 8 --num-cxr8 16 --size 512 --defect-rate 0 --workers "$WORKERS" > /tmp/run_gpu_gen.log
SG=$DATA/chest-imagenome/silver_dataset
"$PY" tools/dataset_converters/imagenome_to_coco.py --scene-graphs $SG/scene_graph.zip \
  --splits-dir $SG/splits --images-to-avoid $SG/splits/images_to_avoid.csv \
  --images-root $DATA/mimic-cxr-jpg --metadata $DATA/mimic-cxr-jpg/mimic-cxr-2.0.0-metadata.csv \
  --out-dir $DATA/coco256 --workers "$WORKERS" --resize-short-side 256 --no-progress > /tmp/run_gpu_convert.log
export MMADPD_IMAGENOME_DIR=$DATA/coco256
log "phantom data + 256-px cache ready"

BENCH=(tools/analysis_tools/benchmark.py configs/adpd/loc_adpd.py --batch-size "$BATCH"
       --amp bf16 --channels-last --device "$DEVICE")
# Each part writes its own JSON, most important first, so a time-out still returns the rest.
"$PY" "${BENCH[@]}" --parts train,bare,infer --profile "$OUT/profile_adpd_train.txt" \
  --out "$OUT/bench_eager.json" 2>&1 | grep -v Warning
log "eager benchmark done"
# the same train step with mmengine's per-step gradient-norm sync, for the comparison
"$PY" "${BENCH[@]}" --parts train --grad-norm-log-interval 1 --out "$OUT/bench_sync.json" \
  2>&1 | grep -v Warning
log "per-step-sync train step done"
if [[ "${SKIP_COMPILE:-0}" != "1" ]]; then
  "$PY" "${BENCH[@]}" --compile --parts train,bare,infer --out "$OUT/bench_compiled.json" \
    2>&1 | grep -v Warning
  log "compiled benchmark done"
fi
"$PY" "${BENCH[@]}" --parts pipeline --loop-seconds "$LOOP_S" --workers "$WORKERS" \
  --out "$OUT/bench_loop.json" 2>&1 | grep -v Warning
log "pipeline + real loop done"
