#!/usr/bin/env bash
# The scaling study of docs/performance.md: writes the synthetic set of issue 4 (planted biased
# rank-16 model, Zipf(1) items, 5% test) and runs `graft scale` on it, block plane, k = 64.
#
#   tests/bench/scaling-study.sh OUTDIR [USERS ITEMS WORKERS SERVERS]
#
# Defaults are the 16-core study: 500,000 users x 100,000 items (47.5 million training ratings),
# workers 1,2,4,8,16. On the lent machine, run it from the repository root after
#   . .mpirt/mpi-env.sh                       (Open MPI carried from here: ../shared/device/)
#   export GRAFT_BIN=$PWD/.devbin LD_LIBRARY_PATH=$PWD/.devbin/lib:$LD_LIBRARY_PATH
# Extra `graft train` options come from GRAFT_STUDY_OPTS.
set -euo pipefail
out=${1:?usage: scaling-study.sh OUTDIR [USERS ITEMS WORKERS SERVERS]}
users=${2:-500000}
items=${3:-100000}
workers=${4:-1,2,4,8,16}
servers=${5:-1,1,2,2,2}
here=$(cd "$(dirname "$0")/../.." && pwd)
data=${GRAFT_STUDY_DATA:-$(mktemp -d)}
mkdir -p "$out" "$data"
{
  echo "== machine"
  nproc
  lscpu | grep -E "Model name|^CPU\(s\)|Thread|Core|Socket|NUMA node\(s\)|L3" || true
  free -g | head -2
  echo "== data: $users users x $items items, 100 ratings each, 5% test"
} | tee "$out/machine.txt"
if [ ! -s "$data/train.txt" ]; then
  t0=$SECONDS
  "$here/launch/graft" gen --train "$data/train.txt" --test "$data/test.txt" \
    --users "$users" --items "$items" --ratings-per-user 100 --rank 16 --test-fraction 0.05 \
    --zipf 1 --seed 1 --info "$out/data.json" 2>&1 | tail -1 | tee -a "$out/machine.txt"
  echo "gen: $((SECONDS - t0)) s" | tee -a "$out/machine.txt"
fi
opts=(--train "$data/train.txt" --test "$data/test.txt" --plane block --dim 64 --epochs 10
      --lr 0.15 --validation-fraction 0 --quiet)
# shellcheck disable=SC2206
opts+=(${GRAFT_STUDY_OPTS:-})
if command -v python3 >/dev/null; then
  "$here/launch/graft" scale --workers "$workers" --servers "$servers" --out "$out" "${opts[@]}"
else # the same runs without the CSV (made later from the metrics files)
  IFS=, read -r -a ws <<< "$workers"
  IFS=, read -r -a ss <<< "$servers"
  for i in "${!ws[@]}"; do
    w=${ws[$i]} s=${ss[$i]:-${ss[0]}}
    "$here/launch/graft" train --servers "$s" --workers "$w" --metrics "$out/run-$w-$s.jsonl" \
      "${opts[@]}" > "$out/run-$w-$s.log" 2>&1
    tail -1 "$out/run-$w-$s.jsonl"
  done
fi
