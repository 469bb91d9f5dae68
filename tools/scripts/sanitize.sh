#!/usr/bin/env bash
# Builds everything with AddressSanitizer and UndefinedBehaviorSanitizer (g++, TSPSIM_SANITIZE) in
# build-asan/ and runs the test suite under them; any report fails the test that caused it.
# docs/reliability.md says what this covers.
set -euo pipefail
cd "$(dirname "$0")/../.."

cmake -S . -B build-asan -DTSPSIM_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build-asan -j2
# halt_on_error: a UBSan report ends the process, so the test fails instead of printing and passing.
# exitcode=86: a report in a tool the tests run (tspsim, tspasm) must not look like tspsim's exit
# code 1 (conformance errors), which some tests expect.
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=86
export ASAN_OPTIONS=strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:exitcode=86
ctest --test-dir build-asan --output-on-failure -j2
