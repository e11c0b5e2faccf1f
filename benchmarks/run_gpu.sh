#!/usr/bin/env bash
# The GPU check of issue 8 as ONE script for a lent GPU machine (see README "Performance").
# It expects, in the repository root, a folder .whl/ (made here by
# benchmarks/fetch_device_wheels.sh and carried along) with the wheels the device's Python
# lacks (mmengine, mmdet, ensemble-boxes, pycocotools, ...) and the mmcv 2.1.0 sdist, and
# writes one JSON per step and an op profile per profiled step to $OUT (count them: at
# most 8 files came back from one device call; all steps would write 9 JSON + 7 profiles,
# + the caller's tee of stdout to $OUT/run.log).
#
#   OUT=/tmp/out bash benchmarks/run_gpu.sh
#
# Steps, most important first; a step that would not finish inside BUDGET_S seconds of the
# script is skipped with a log line (its estimate: the second argument of each `step` call):
#   eager      plain eager ADPD train step (--graph-heads off) vs bare DenseNet121,
#              inference, op profile (batch 256)
#   eager_graphed  the same two steps, FastADPD with model.graph_heads=True (heads + losses
#              as CUDA graphs, as the fast config trains eagerly), after a two-step check that
#              it computes the plain step's losses and gradients (dropout off); profiled
#              (profile_adpd_train_graphed.txt)
#   loop_cudagraphs  the real training loop as the fast config runs it (Runner, config
#              batch 128, one DataLoader worker per core, compiled with CUDA graphs:
#              torch.compile mode reduce-overhead), 5 iterations profiled
#              (profile_loop_cudagraphs.txt)
#   loop_cpp_wrapper  the same loop compiled in the default mode with inductor's C++
#              wrapper (--compile-options cpp_wrapper=True): kernels launched from
#              generated C++ instead of Python, the fallback should CUDA graphs be skipped
#              or fail; profiled (profile_loop_cpp_wrapper.txt)
#   compiled   the ADPD train step with torch.compile (COMPILE_MODE, default mode)
#   loop_compiled  the same loop compiled in COMPILE_MODE (default: torch's default mode,
#              how the fast config ran before CUDA graphs), profiled
#              (profile_loop_compiled.txt)
#   loop       the same loop eager (where the host time goes without compilation)
#              + the data pipeline per worker + the main process's CPU per batch
#              + one validation -> the projected full-schedule minutes (plain eager)
#   loop_graphed  the eager loop with model.graph_heads (only when EAGER_LOOP_S > 0),
#              profiled (profile_loop_graphed.txt)
#   compiled_bare  the bare DenseNet121 step with torch.compile
# Why this order: every bar of issue 8 is met on the H100 (2026-11-26): the compiled loop
# with CUDA graphs 3,010 samples/s and a projected schedule of 35 min (16:13 run,
# benchmarks/h100_2026-11-26_cudagraphs.json), the compiled step 3,311 img/s and inference
# 8,014 img/s (13:17, h100_2026-11-26_fast.json), the eager ratio ADPD/bare 0.966 with
# graphed heads, 0.950 plain (17:23, h100_2026-11-26_graphheads.json). The eager steps
# come first because they are the closest to their bar, then the loops.
# EAGER_PARTS / LOOP_PARTS narrow the eager and loop steps (a short rerun:
# EAGER_PARTS=train,bare LOOP_PARTS=none). LOOP_THREADS=N runs the loops with N torch
# intra-op threads in the main process. REPEATS=N: timed repeats of the steps (default 5;
# the run of 17:23 used 9: the repeats of one step spread by up to 10 %).
#
# Seconds measured on the H100 (2026-11-26): machine start ~30, wheels + phantom training
# data 60, eager (train,bare,infer + profile, REPEATS=9) 84, eager_graphed (check +
# profile, REPEATS=9) 58, loop (EAGER_LOOP_S=10, LOOP_PARTS=none) 73, loop_graphed 47,
# loop_cudagraphs 203 (LOOP_S=10; compilation included), loop_cpp_wrapper > 307 (still
# compiling when BUDGET_S stopped it), the 1024-px validation set 42, one validation part
# 59 (process start and exit included).
# A 15-minute budget covers, e.g., in one call of timeout 560 s:
#     SKIP=loop_cpp_wrapper,compiled,loop_compiled,loop_graphed,compiled_bare LOOP_S=10
#     EAGER_LOOP_S=0 LOOP_PARTS=val REPEATS=9 BUDGET_S=540
#     (data 60 + eager ~85 + eager_graphed ~60 + loop_cudagraphs ~200 + validation ~100:
#     the last is skipped if the budget runs short; 8 files: run.log, 4 JSON, 3 profiles)
#   then give the machine back. Never measured: loop_cpp_wrapper (> 5 min to compile),
#   compiled_bare.

# mmcv: ADPD calls no compiled mmcv op, so by default mmcv runs from its sdist with a stub
# for the compiled module (benchmarks/mmcv_ext_stub.py; any op call would raise). MMCV=build
# builds the real CPU ops (~2 min on 16 cores), MMCV=installed uses the installed mmcv.
#
# Local dry run of the same steps on a CPU (no wheels, tiny sizes; SKIP names steps):
#   LOCAL=1 MMCV=stub OUT=/tmp/out DEVICE=cpu BATCH=4 IMG=64 NUM_TRAIN=40 LOOP_S=5 \
#     NUM_CXR8=40 CXR8_SIZE=256 \
#     LOOP_BATCH=4 WORKERS=2 SKIP=loop_cudagraphs,loop_cpp_wrapper,compiled,loop_compiled,compiled_bare \
#     PYTHON=.venv/bin/python \
#     bash benchmarks/run_gpu.sh
set -euo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:?set OUT}
DEVICE=${DEVICE:-cuda}
BATCH=${BATCH:-256}
NUM_TRAIN=${NUM_TRAIN:-1000}
NUM_CXR8=${NUM_CXR8:-880}
CXR8_SIZE=${CXR8_SIZE:-1024}
LOOP_S=${LOOP_S:-20}
WORKERS=${WORKERS:-$(nproc)}
BUDGET_S=${BUDGET_S:-570}
# the fast-path config users train with (its fused AdamW also drives the bare step (b));
# CONFIG=configs/adpd/loc_adpd.py gives the numbers of the runs before 2026-11-26 11:00
CONFIG=${CONFIG:-configs/adpd/loc_adpd_fast-bf16.py}
PY=${PYTHON:-python3}
MMCV=${MMCV:-$([[ "${LOCAL:-0}" == "1" ]] && echo installed || echo stub)}
T0=$SECONDS
log() { echo "[run_gpu $((SECONDS - T0))s] $*"; }
mkdir -p "$OUT"

if [[ "${LOCAL:-0}" != "1" ]]; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
  log "wheels installed"
else
  export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
if [[ "$MMCV" != "installed" ]]; then
  rm -rf /tmp/mmcvsrc && mkdir -p /tmp/mmcvsrc && tar -xzf .whl/mmcv-2.1.0.tar.gz -C /tmp/mmcvsrc
  src=/tmp/mmcvsrc/mmcv-2.1.0
  if [[ "$MMCV" == "stub" ]]; then
    cp benchmarks/mmcv_ext_stub.py "$src/mmcv/_ext.py"
  else
    # CPU ops only (CUDA hidden during the build). -std=c++20: torch's recent headers
    # need it; an older torch may still want the sdist's C++17, hence the retry.
    sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
    build() {
      (cd "$src" && CUDA_VISIBLE_DEVICES= FORCE_CUDA=0 MMCV_WITH_OPS=1 MAX_JOBS=$WORKERS \
         "$PY" setup.py build_ext --inplace > /tmp/mmcv_build.log 2>&1)
    }
    build || { sed -i 's/-std=c++20/-std=c++17/g' "$src/setup.py"; build; } \
      || { tail -30 /tmp/mmcv_build.log; exit 1; }
  fi
  export PYTHONPATH=$src:$PYTHONPATH
  log "mmcv from the sdist ($MMCV)"
fi
"$PY" -c "import mmcv, mmcv._ext, mmdet.models, mmadpd, torch; print('stack ok: torch', torch.__version__, 'cuda', torch.cuda.is_available(), '| mmcv', mmcv.__version__, mmcv._ext.__file__)"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || true

DATA=${DATA_DIR:-/tmp/phantom_bench}
VAL=${VAL_DIR:-/tmp/phantom_val}
# A second call on the same (warm) machine reuses the data of the first.
if [[ "$(cat $DATA/.params 2>/dev/null)" == "$NUM_TRAIN" ]]; then
  log "reusing the training data of an earlier call ($DATA)"
else
  rm -rf $DATA
  "$PY" tools/dataset_converters/make_synthetic_cxr.py $DATA --num-train "$NUM_TRAIN" \
    --num-val 8 --num-test 8 --num-cxr8 16 --size 320 --defect-rate 0 --workers "$WORKERS" \
    > /tmp/run_gpu_gen.log
  SG=$DATA/chest-imagenome/silver_dataset
  "$PY" tools/dataset_converters/imagenome_to_coco.py --scene-graphs $SG/scene_graph.zip \
    --splits-dir $SG/splits --images-to-avoid $SG/splits/images_to_avoid.csv \
    --images-root $DATA/mimic-cxr-jpg --metadata $DATA/mimic-cxr-jpg/mimic-cxr-2.0.0-metadata.csv \
    --out-dir $DATA/coco256 --workers "$WORKERS" --resize-short-side 256 --no-progress \
    > /tmp/run_gpu_convert.log
  echo "$NUM_TRAIN" > $DATA/.params
fi
export MMADPD_IMAGENOME_DIR=$DATA/coco256
export MMADPD_CXR8_DIR=$VAL/cxr8_coco
log "phantom training data + 256-px cache ready ($NUM_TRAIN images)"

# The validation set as the real one: NUM_CXR8 (880 like NIH's box images, ~half of them in
# the val half) CXR8_SIZE-px PNGs. Only the loop step's validation part reads it.
val_data() {
  local params="$NUM_CXR8 $CXR8_SIZE"
  if [[ "$(cat $VAL/.params 2>/dev/null)" == "$params" ]]; then
    return 0
  fi
  rm -rf $VAL
  "$PY" tools/dataset_converters/make_synthetic_cxr.py $VAL --num-train 1 --num-val 1 \
    --num-test 1 --num-cxr8 "$NUM_CXR8" --size "$CXR8_SIZE" --defect-rate 0 \
    --workers "$WORKERS" > /tmp/run_gpu_gen_val.log
  "$PY" tools/dataset_converters/cxr8_to_coco.py --bbox-csv $VAL/cxr8/BBox_List_2017.csv \
    --data-entry $VAL/cxr8/Data_Entry_2017_v2020.csv --image-dir $VAL/cxr8/images \
    --out-dir $VAL/cxr8_coco > /tmp/run_gpu_convert_val.log
  echo "$params" > $VAL/.params
  log "phantom validation set ready ($NUM_CXR8 CXR8 images of $CXR8_SIZE px)"
}

# runs NAME ESTIMATE_S: whether step NAME is neither in SKIP nor past BUDGET_S (logged).
runs() {
  local name=$1 est=$2
  if [[ ",${SKIP:-}," == *",$name,"* ]]; then
    log "SKIPPED $name (SKIP)"
    return 1
  fi
  if (( SECONDS - T0 + est > BUDGET_S )); then
    log "SKIPPED $name (needs ~${est}s, $((BUDGET_S - SECONDS + T0))s left of BUDGET_S)"
    return 1
  fi
}

# step NAME ESTIMATE_S ARGS...: one benchmark process, skipped when it would overrun.
step() {
  local name=$1 est=$2; shift 2
  runs "$name" "$est" || return 0
  # a failed step is logged and the next one still runs; none runs past BUDGET_S
  if timeout -k 5 $((BUDGET_S - SECONDS + T0)) "$PY" tools/analysis_tools/benchmark.py \
      "$CONFIG" --amp bf16 --channels-last --device "$DEVICE" \
      ${IMG:+--img-size $IMG} ${REPEATS:+--repeats $REPEATS} "$@" \
      --out "$OUT/bench_$name.json" 2>&1 | grep -v -e SyntaxWarning -e DeprecationWarning; then
    log "$name done"
  else
    log "$name FAILED (status ${PIPESTATUS[0]}; 124 = stopped at BUDGET_S)"
  fi
}
LOOP=(--loop-seconds "$LOOP_S" --workers "$WORKERS" ${LOOP_BATCH:+--loop-batch-size $LOOP_BATCH}
      ${LOOP_THREADS:+--torch-threads $LOOP_THREADS})
COMPILE=(--compile ${COMPILE_MODE:+--compile-mode $COMPILE_MODE})
step eager 100 --batch-size "$BATCH" --parts "${EAGER_PARTS:-train,bare,infer}" \
  --graph-heads off --profile "$OUT/profile_adpd_train.txt"
# the same with the heads + losses replayed as CUDA graphs (model.graph_heads), after a
# comparison of one step (a replay) with the plain eager step (graph_heads_check)
step eager_graphed 100 --batch-size "$BATCH" --parts train,bare --graph-heads on \
  --profile "$OUT/profile_adpd_train_graphed.txt"
# the loop bar is the rate of the loop as the fast config runs it (CUDA graphs)
step loop_cudagraphs $((LOOP_S + 190)) "${LOOP[@]}" --parts none --compile \
  --compile-mode reduce-overhead --profile-loop "$OUT/profile_loop_cudagraphs.txt"
step loop_cpp_wrapper $((LOOP_S + 240)) "${LOOP[@]}" --parts none --compile \
  --compile-options cpp_wrapper=True --profile-loop "$OUT/profile_loop_cpp_wrapper.txt"
step compiled 180 --batch-size "$BATCH" --parts train "${COMPILE[@]}"
step loop_compiled $((LOOP_S + 170)) "${LOOP[@]}" --parts none "${COMPILE[@]}" \
  --profile-loop "$OUT/profile_loop_compiled.txt"
LOOP_PARTS=${LOOP_PARTS:-pipeline,transfer,val}
VAL_EST=0
if [[ ",$LOOP_PARTS," == *",val,"* ]]; then VAL_EST=60; fi  # making the validation set
# EAGER_LOOP_S (default LOOP_S) = 0: the loop step measures only its parts, no eager loop
# (e.g. EAGER_LOOP_S=0 LOOP_PARTS=val: the validation time the projected schedule needs)
EAGER_LOOP_S=${EAGER_LOOP_S:-$LOOP_S}
LOOP_EST=$(( EAGER_LOOP_S > 0 ? EAGER_LOOP_S + 150 : 60 ))
if runs loop $((LOOP_EST + VAL_EST)); then
  if (( VAL_EST > 0 )); then val_data; fi
  step loop $LOOP_EST "${LOOP[@]}" --loop-seconds "$EAGER_LOOP_S" --parts "$LOOP_PARTS" \
    --graph-heads off \
    --profile-loop "$OUT/profile_loop.txt"
fi
# the eager loop again with model.graph_heads (EAGER_LOOP_S seconds; keys *_graph_heads)
if (( EAGER_LOOP_S > 0 )); then
  step loop_graphed $((EAGER_LOOP_S + 150)) "${LOOP[@]}" --loop-seconds "$EAGER_LOOP_S" \
    --parts none --graph-heads on --profile-loop "$OUT/profile_loop_graphed.txt"
fi
# the compiled bare network (its own compilation, ~1-2 min) only adds the compiled ratio
step compiled_bare 120 --batch-size "$BATCH" --parts bare "${COMPILE[@]}"
log "all steps done"
