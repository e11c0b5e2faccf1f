#!/usr/bin/env bash
# Downloads, into .whl/ (git-ignored via .git/info/exclude), what benchmarks/run_gpu.sh
# needs on a GPU machine that has Python 3.12 + its own torch and no package index:
# the pure-Python/cp312 wheels missing there and the mmcv 2.1.0 sdist (built there).
#   bash benchmarks/fetch_device_wheels.sh [PYTHON]   (PYTHON: a local pip, default .venv)
set -euo pipefail
PY=${1:-.venv/bin/python}
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
mkdir -p .whl
PLAT=(--python-version 3.12 --implementation cp --only-binary=:all:
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
      --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
pin() { sed -n "s/^$1==\([^ #]*\).*/\1/p" requirements/*.txt | head -n1; }
"$PY" -m pip download -q --no-deps -d .whl "${PLAT[@]}" \
  "mmengine==$(pin mmengine)" "mmdet==$(pin mmdet)" "ensemble-boxes==$(pin ensemble-boxes)" \
  "pycocotools==$(pin pycocotools)" "addict==$(pin addict)" "yapf==$(pin yapf)" \
  "terminaltables==$(pin terminaltables)" "shapely==$(pin shapely)" \
  termcolor==2.5.0 platformdirs==4.3.6 tomli==2.2.1 importlib-metadata==8.5.0 \
  setuptools==80.9.0  # setuptools < 82 keeps pkg_resources, which mmcv's setup.py imports
"$PY" -m pip download -q --no-deps --no-binary :all: --no-build-isolation -d .whl \
  "mmcv==$(pin mmcv)"
ls -la .whl
