#!/usr/bin/env bash
# The test command README.md gives: install what the tests need and a fresh
# machine lacks, then run every test of the workspace.
#
# Needs: Rust (stable) and apt (Debian/Ubuntu), as root or with sudo.
# Installs when missing: a C compiler (SQLite is built from source) and
# libfaketime (the onion tests run a client whose clock is 10 minutes wrong).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
apt_packages=()
command -v cc >/dev/null || apt_packages+=(gcc)
ls /usr/lib/*/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1 >/dev/null 2>&1 \
  || apt_packages+=(faketime)
if [ "${#apt_packages[@]}" -gt 0 ]; then
  echo "== installing ${apt_packages[*]}"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${apt_packages[@]}"
fi

exec cargo test --workspace --locked "$@"
