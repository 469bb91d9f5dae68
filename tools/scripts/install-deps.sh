#!/usr/bin/env bash
# Installs everything tspsim needs to build and test on Debian 12. Run as root; safe to re-run:
# when every package is already installed it does nothing.
set -euo pipefail

# clang and libclang-rt-14-dev are for the fuzz and sanitizer builds (TSPSIM_FUZZ, TSPSIM_SANITIZE).
# chromium renders the HTML report in its test (tests/observe/test_html_report.cpp), headless.
PACKAGES="build-essential cmake pkg-config libsystemc-dev libfmt-dev libspdlog-dev catch2 libcli11-dev
nlohmann-json3-dev clang libclang-rt-14-dev chromium"

missing=()
for package in $PACKAGES; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$package")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages already installed"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run this script as root" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-get install -y --no-install-recommends $PACKAGES
