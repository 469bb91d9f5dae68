#!/usr/bin/env bash
# Compiles a fixed set of kernels, a Llama step and collectives with two tspc binaries and
# compares the programs byte for byte (cmp): a change to the scheduler's data structures or speed
# must not change any emitted program. Prints each case's user seconds and peak RSS with both.
#   tools/scripts/compare-compile.sh OLD_TSPC NEW_TSPC [WORK_DIR]
# Build the old binary from the commit before the change (git worktree + cmake), or keep a copy.
set -euo pipefail
cd "$(dirname "$0")/../.."
old=$(realpath "$1")
new=$(realpath "$2")
work=${3:-$(mktemp -d)}
mkdir -p "$work"
c14=configs/14nm.json
tiny=configs/tiny.json
cases=(
  "gemm:--config $c14 gemm --m 320 --k 1024 --n 1024 --dtype int8"
  "gemm_fp16:--config $c14 gemm --m 100 --k 700 --n 500 --dtype fp16"
  "gemv:--config $c14 gemv --k 4096 --n 4096 --dtype int8"
  "elementwise:--config $c14 elementwise --op add --rows 300 --cols 1000 --dtype fp16 --broadcast row"
  "reduce:--config $c14 reduce --axis lanes --op max --rows 64 --cols 700 --dtype int32"
  "softmax:--config $c14 softmax --rows 64 --cols 1000 --dtype bf16"
  "layernorm:--config $c14 layernorm --rows 40 --cols 777 --dtype fp32"
  "rmsnorm_tiny:--config $tiny rmsnorm --rows 32 --cols 100 --dtype fp16"
  "swiglu:--config $c14 swiglu --rows 64 --cols 1536 --dtype fp16"
  "rope:--config $c14 rope --rows 32 --cols 128 --dtype fp16"
  "attention:--config $c14 attention --heads 8 --kv-heads 2 --head-dim 128 --seq 300"
  "llama_tiny:--config $c14 llama --model configs/models/tiny-llama.json --position 3"
  "llama_node8:--config $c14 llama --model configs/models/tiny-llama.json --position 3 --system configs/systems/node8.json --stages 1"
  "allreduce_node8:collective --system configs/systems/node8.json --kind all-reduce --rows 40 --cols 500 --dtype fp16"
  "allgather_node8:collective --system configs/systems/node8.json --kind all-gather --rows 8 --cols 320 --dtype int8 --algorithm ring"
  "reducescatter_rack:collective --system configs/systems/rack72.json --kind reduce-scatter --rows 144 --cols 320"
  "allreduce_rack:collective --system configs/systems/rack72.json --kind all-reduce --rows 144 --cols 320 --algorithm hierarchical-direct"
  "transfer_rack:collective --system configs/systems/rack72.json --kind transfer --chips 0,40 --rows 20 --cols 640 --dtype bf16"
  "allreduce_dragonfly2:collective --system configs/systems/dragonfly2.json --kind all-reduce --rows 16 --cols 320"
  "allgather_dragonfly2:collective --system configs/systems/dragonfly2.json --kind all-gather --rows 1 --cols 80"
)
source tools/scripts/compare-programs.sh
compile_and_compare "$old" "$new" "$work" "${cases[@]}"
