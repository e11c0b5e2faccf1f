#!/usr/bin/env bash
# Training on a SLURM cluster (mmdet's interface), one task per GPU:
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=16] tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args...]
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/slurm_launch.sh" \
    "$1" "$2" train.py "$3" --work-dir="$4" --launcher slurm "${@:5}"
