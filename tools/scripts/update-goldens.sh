#!/usr/bin/env bash
# Rewrites the golden regression files (tests/golden/NAME.stats.json and NAME.activity) from the
# current simulator and compiler, then shows what moved. Run it only when a change of cycles or
# activity is intended, and commit the rewritten files with the change that moved them.
#   tools/scripts/update-goldens.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
cmake --build "$build" -j2 --target tspsim tspc test_golden
TSPSIM_UPDATE_GOLDENS=1 SYSTEMC_DISABLE_COPYRIGHT_MESSAGE=1 \
  "$build/tests/test_golden" "every golden program reproduces its pinned cycles and activity"
git --no-pager diff --stat -- tests/golden
