#!/usr/bin/env bash
# One srun task per GPU running a script of tools/ (shared by slurm_train.sh and slurm_test.sh):
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=16] [SRUN_ARGS=...] [PYTHON=python] \
#       tools/slurm_launch.sh PARTITION JOB_NAME SCRIPT [script args...]
# mmengine's slurm launcher reads SLURM_PROCID/SLURM_NTASKS and the first node of the
# allocation becomes the master.
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
SCRIPT=$3
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-16}
SRUN_ARGS=${SRUN_ARGS:-""}
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON=${PYTHON:-python}

srun -p "$PARTITION" --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" --ntasks="$GPUS" --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" --kill-on-bad-exit=1 $SRUN_ARGS \
    "$PYTHON" -u "$DIR/$SCRIPT" "${@:4}"
