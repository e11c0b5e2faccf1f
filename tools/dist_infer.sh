#!/usr/bin/env bash
# Bulk inference on torchrun, one process per GPU (or per CPU process: gloo):
#   tools/dist_infer.sh CONFIG CHECKPOINT NPROC INPUT [INPUT ...] --out-dir DIR [infer.py args...]
# Rank r takes inputs r, r + NPROC, ... of the input list (folders expanded and sorted);
# rank 0 writes summary.json / summary.csv. Multi-node: set NNODES, NODE_RANK,
# MASTER_ADDR and PORT on every node (every node must see the same inputs and DIR).
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29510}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON=${PYTHON:-python}

exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROC" --master_port="$PORT" \
    "$DIR/infer.py" "$CONFIG" "$CHECKPOINT" "${@:4}" --launcher pytorch
