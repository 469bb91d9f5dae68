#!/usr/bin/env bash
# Builds tspsim (Release, in build/) and runs the vector-add example on the 14 nm configuration.
set -euo pipefail
cd "$(dirname "$0")/../.."

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j2 --target tspsim
./build/tspsim --config configs/14nm.json examples/vector_add.tsp
