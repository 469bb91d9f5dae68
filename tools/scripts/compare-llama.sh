#!/usr/bin/env bash
# Compiles the bundled Llama decode steps with two tspc binaries and compares the programs byte for
# byte (cmp): a change to how the step is composed or finished (stage by stage, docs/llama.md,
# "Compiling stage by stage") must not change any emitted program. Prints each case's user seconds
# and peak RSS with both.
#   tools/scripts/compare-llama.sh OLD_TSPC NEW_TSPC [WORK_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
old=$(realpath "$1")
new=$(realpath "$2")
work=${3:-$(mktemp -d)}
mkdir -p "$work"
tiny=configs/models/tiny-llama.json
small=configs/models/small-llama.json
two=configs/systems/two_chips.json
node8=configs/systems/node8.json
cases=()
for model in tiny small; do
  m=$tiny
  [[ $model == small ]] && m=$small
  for timing in "" "--timing-only"; do
    tag=$model${timing:+_t}
    cases+=(
      "${tag}_chip:--config configs/14nm.json llama --model $m --position 3 $timing"
      "${tag}_two_tp:--config configs/14nm.json llama --model $m --position 3 --system $two --stages 1 $timing"
      "${tag}_two_pp:--config configs/14nm.json llama --model $m --position 3 --system $two --stages 2 $timing"
      "${tag}_node8_2x4:--config configs/14nm.json llama --model $m --position 3 --system $node8 --stages 2 $timing"
      "${tag}_node8_1x8:--config configs/14nm.json llama --model $m --position 3 --system $node8 --stages 1 $timing"
    )
  done
done
source tools/scripts/compare-programs.sh
compile_and_compare "$old" "$new" "$work" "${cases[@]}"
