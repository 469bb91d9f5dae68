#!/usr/bin/env bash
# Builds tspsim (Release, in build/) and runs the vector-add example on the 14 nm configuration.
set -euo pipefail
cd "$(dirname "$0")/.."

example=examples/vector_add.tsp
if [ ! -f tools/tspsim.cpp ]; then
  echo "run-example: tools/tspsim.cpp does not exist yet; the simulator driver has not been written" >&2
  exit 1
fi
if [ ! -f "$example" ]; then
  echo "run-example: $example does not exist yet" >&2
  exit 1
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j2 --target tspsim
./build/tspsim --config configs/14nm.json "$example"
