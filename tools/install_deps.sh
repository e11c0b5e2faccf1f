#!/usr/bin/env bash
# Installs mmadpd's pinned stack into the Python environment given as $1 (default: python3).
# The ONE install script: the Makefile (make install) and docker/Dockerfile both call it,
# so what CI tests is what the Docker image gets.
#
#   tools/install_deps.sh [PYTHON]
#
# Environment:
#   MMADPD_WHEEL_CACHE  where the built mmcv wheel is kept (default ~/.cache/mmadpd/wheels)
#   MMADPD_SHARED_WHEELS  extra folder searched for a prebuilt mmcv wheel
#                         (default: ../shared/wheels next to the repository, when it exists)
#   MMCV_WITH_CUDA=1    build mmcv's CUDA ops too (Docker image); never reuses CPU wheels
#   TORCH_CUDA_ARCH_LIST  GPU architectures for the CUDA build
#   MAX_JOBS            parallel compile jobs (default: number of cores)
set -euo pipefail

PY="${1:-python3}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQ="$ROOT/requirements"
CACHE="${MMADPD_WHEEL_CACHE:-$HOME/.cache/mmadpd/wheels}"
SHARED="${MMADPD_SHARED_WHEELS:-$ROOT/../shared/wheels}"
PIP=("$PY" -m pip --disable-pip-version-check)

pin() {  # pin FILE NAME -> version pinned for NAME in FILE
  sed -n "s/^$2==\([^ #]*\).*/\1/p" "$1" | head -n1
}

echo "[install] python: $("$PY" --version 2>&1) at $(command -v "$PY")"
"${PIP[@]}" install -q -r "$REQ/build.txt"
"${PIP[@]}" install -q -r "$REQ/torch.txt"

TORCH_VER="$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')"
MMCV_VER="$(pin "$REQ/mmcv.txt" mmcv)"
if [[ "${MMCV_WITH_CUDA:-0}" == "1" ]]; then FLAVOUR="cuda"; else FLAVOUR="cpu"; fi
WHEEL_DIR="$CACHE/mmcv-$MMCV_VER-torch$TORCH_VER-$FLAVOUR"
mkdir -p "$WHEEL_DIR"

mmcv_ok() {
  "$PY" - "$MMCV_VER" <<'PYEOF' >/dev/null 2>&1
import sys, mmcv, mmcv._ext  # noqa: F401  (_ext = compiled ops)
assert mmcv.__version__ == sys.argv[1]
PYEOF
}

if mmcv_ok; then
  echo "[install] mmcv $MMCV_VER with compiled ops already installed"
else
  wheel="$(ls "$WHEEL_DIR"/mmcv-"$MMCV_VER"-*.whl 2>/dev/null | head -n1 || true)"
  [[ -n "$wheel" ]] && echo "[install] using cached mmcv wheel $wheel"
  if [[ -z "$wheel" && "$FLAVOUR" == "cpu" && "$TORCH_VER" == "2.14.1" && -d "$SHARED" ]]; then
    # A wheel built exactly this way (cp311, torch 2.14.1, CPU ops) is provided on
    # developer and CI machines; it only fits that torch and Python.
    cand="$(ls "$SHARED"/mmcv-"$MMCV_VER"-cp311-*.whl 2>/dev/null | head -n1 || true)"
    pyver="$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
    if [[ -n "$cand" && "$pyver" == "cp311" ]]; then
      cp "$cand" "$WHEEL_DIR/" && wheel="$WHEEL_DIR/$(basename "$cand")"
      echo "[install] using prebuilt mmcv wheel from $SHARED"
    fi
  fi
  if [[ -z "$wheel" ]]; then
    jobs="${MAX_JOBS:-$(nproc)}"
    echo "[install] building mmcv $MMCV_VER ops from source ($FLAVOUR, $jobs jobs): ~15-30 min on 2 cores, ~3 min on 16"
    build="$(mktemp -d)"
    "${PIP[@]}" download -q --no-deps --no-binary :all: -d "$build" "mmcv==$MMCV_VER"
    tar -xzf "$build"/mmcv-"$MMCV_VER".tar.gz -C "$build"
    src="$build/mmcv-$MMCV_VER"
    # mmcv 2.1.0 hard-codes -std=c++17, but torch >= 2.10 headers need C++20 features:
    # without this edit every C++ unit fails to compile against torch 2.14.
    sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
    # --no-build-isolation: an isolated build cannot see torch and silently produces an
    # ops-less mmcv (no mmcv._ext), which mmdet then fails to import.
    (cd "$src" && MMCV_WITH_OPS=1 FORCE_CUDA="${MMCV_WITH_CUDA:-0}" MAX_JOBS="$jobs" \
      "${PIP[@]}" wheel -q --no-build-isolation --no-deps -w "$WHEEL_DIR" .)
    rm -rf "$build"
    wheel="$(ls "$WHEEL_DIR"/mmcv-"$MMCV_VER"-*.whl | head -n1)"
    echo "[install] built $wheel (cached for the next install)"
  fi
  # --no-deps: mmcv would pull opencv-python (GUI build, needs libGL) which shadows the
  # headless OpenCV; its real dependencies are pinned in requirements/runtime.txt.
  "${PIP[@]}" install -q --no-deps --force-reinstall "$wheel"
fi

"${PIP[@]}" install -q -r "$REQ/runtime.txt" -r "$REQ/tests.txt"
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT"

"$PY" - <<'PYEOF'
import mmcv, mmcv._ext, mmdet, mmengine, torch, torchvision  # noqa: F401
from mmcv.ops import nms
import mmadpd  # noqa: F401  (registers every component)
print(f"[install] ok: torch {torch.__version__}, torchvision {torchvision.__version__}, "
      f"mmcv {mmcv.__version__} (ops), mmdet {mmdet.__version__}, mmengine {mmengine.__version__}")
PYEOF
