#!/usr/bin/env bash
# The test command README.md gives: install what the tests need and a fresh
# machine lacks, then run every test of the workspace.
#
# Needs: Rust (stable) and apt (Debian/Ubuntu), as root or with sudo.
# Installs when missing: a C compiler (SQLite is built from source),
# libfaketime (the onion tests run a client whose clock is 10 minutes wrong),
# tmux (the `nightjar tui` test drives the TUI in a real terminal),
# and the chain tools (anvil for the chain follower's test, through
# contrib/chain-tools.sh: Node.js if needed, then the pinned npm packages into
# contracts/node_modules).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
apt_packages=()
command -v cc >/dev/null || apt_packages+=(gcc)
ls /usr/lib/*/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1 >/dev/null 2>&1 \
  || apt_packages+=(faketime)
command -v tmux >/dev/null || apt_packages+=(tmux)
if [ "${#apt_packages[@]}" -gt 0 ]; then
  echo "== installing ${apt_packages[*]}"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${apt_packages[@]}"
fi

echo "== chain tools (contrib/chain-tools.sh)"
bash contrib/chain-tools.sh >/dev/null

exec cargo test --workspace --locked "$@"
