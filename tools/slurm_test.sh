#!/usr/bin/env bash
# Evaluation on a SLURM cluster (mmdet's interface), one task per GPU:
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]
set -euo pipefail
CPUS_PER_TASK=${CPUS_PER_TASK:-5} exec "$(dirname "${BASH_SOURCE[0]}")/slurm_launch.sh" \
    "$1" "$2" test.py "$3" "$4" --launcher slurm "${@:5}"
