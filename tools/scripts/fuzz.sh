#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in build-fuzz/ and runs one for SECONDS seconds, starting
# from its seed corpus in tests/fuzz/corpus/TARGET (left untouched: new inputs go to
# build-fuzz/corpus/TARGET, crash inputs to build-fuzz/artifacts/TARGET/).
#   tools/scripts/fuzz.sh program_loader|assembler|config SECONDS [extra libFuzzer flags]
# A crash input belongs in tests/fuzz/regressions/TARGET/ once fixed (see docs/reliability.md).
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ $# -lt 2 ]; then
  echo "usage: tools/scripts/fuzz.sh program_loader|assembler|config SECONDS [libFuzzer flags]" >&2
  exit 2
fi
target=$1
seconds=$2
shift 2
case "$target" in
program_loader | assembler | config) ;;
*)
  echo "fuzz.sh: unknown target '$target' (program_loader, assembler or config)" >&2
  exit 2
  ;;
esac

CC=clang CXX=clang++ cmake -S . -B build-fuzz -DTSPSIM_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j2 --target "fuzz_$target"

work=build-fuzz/corpus/$target
artifacts=build-fuzz/artifacts/$target
mkdir -p "$work" "$artifacts"
dict=()
[ -f "tests/fuzz/$target.dict" ] && dict=(-dict="tests/fuzz/$target.dict")
# -timeout: an input that takes 10 s is a hang; -rss_limit_mb: one that needs 2 GB is a bug too.
exec "build-fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$artifacts/" "${dict[@]}" "$@" "$work" "tests/fuzz/corpus/$target"
