#!/usr/bin/env bash
# Configures a Release build in build/, builds it and runs every test.
set -euo pipefail
cd "$(dirname "$0")/../.."

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j2
ctest --test-dir build --output-on-failure -j2
