#!/usr/bin/env bash
# Builds and tests the node registry contract (contracts/) offline, and checks
# that the committed artifacts (contracts/artifacts/*.json: ABI and bytecode,
# which the Rust code embeds so that `cargo build` never needs Node.js) are
# exactly what the pinned compiler makes of the committed sources; then
# deploys those artifacts on anvil and registers a node with a real proof
# (contracts/smoke-anvil.sh).
#
#   bash contrib/check-contracts.sh            # CI: fails if anything differs
#   bash contrib/check-contracts.sh --update   # after changing a contract: rewrite the artifacts
#
# Installs the tools first (contrib/chain-tools.sh: npm ci from the committed
# lockfile into contracts/node_modules).
set -euo pipefail
cd "$(dirname "$0")/.."

update=0
case "${1:-}" in
  "") ;;
  --update) update=1 ;;
  *) echo "usage: bash contrib/check-contracts.sh [--update]" >&2; exit 2 ;;
esac

echo "== chain tools (contrib/chain-tools.sh)"
tools="$(bash contrib/chain-tools.sh)"
forge="$(sed -n 's/^forge=//p' <<<"$tools")"
"$forge" --version | head -1

cd contracts
echo "== forge fmt --check"
"$forge" fmt --check

echo "== forge build (solcjs $(./solc.cjs --version | sed -n 's/^Version: //p'))"
# --force: a clean build, so the artifacts never come from a stale cache.
"$forge" build --force --deny warnings

echo "== forge test"
"$forge" test

echo "== artifacts"
fresh="$(mktemp -d)"
trap 'rm -rf "$fresh"' EXIT
node export-artifacts.cjs "$fresh"
if [ "$update" -eq 1 ]; then
  rm -rf artifacts
  mkdir -p artifacts
  cp "$fresh"/*.json artifacts/
  echo "contracts/artifacts/ rewritten; commit it with the sources"
elif ! diff -r -q artifacts "$fresh" >/dev/null; then
  diff -r -q artifacts "$fresh" | sed "s|$fresh|(fresh build)|" >&2 || true
  echo "contracts/artifacts/ differs from a fresh build of contracts/src: run" \
    "'bash contrib/check-contracts.sh --update' and commit the result" >&2
  exit 1
else
  echo "contracts/artifacts/ matches a fresh build"
fi

echo "== the artifacts on anvil (contracts/smoke-anvil.sh)"
bash smoke-anvil.sh
