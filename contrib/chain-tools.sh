#!/usr/bin/env bash
# Installs the chain tools of the node registry contract — forge, anvil and
# cast (Foundry 1.7.1), solcjs and OpenZeppelin Contracts — exactly as pinned
# in contracts/package-lock.json, into contracts/node_modules (ignored by git),
# with `npm ci`. Used by contrib/check-contracts.sh, CI and the devnet.
#
#   bash contrib/chain-tools.sh
#
# Idempotent: a second run checks the installed tools and returns at once.
# Prints where the tools are on stdout, one `name=absolute path` a line:
#
#   forge=…/contracts/node_modules/@foundry-rs/forge-linux-amd64/bin/forge
#   anvil=…   cast=…   solc=…/contracts/solc.cjs (forge's compiler)
#   bin=…/contracts/node_modules/.bin (all of them, for PATH)
#
# Progress and errors go to stderr; exits non-zero, saying why, when it cannot
# install (no Node.js and no apt, registry unreachable, unsupported machine).
# Needs: Linux on x86-64 (the Foundry packages are linux-amd64 builds) and
# Node.js ≥ 18 with npm, which it installs with apt-get when missing.
set -euo pipefail

die() {
  echo "chain-tools.sh: $*" >&2
  exit 1
}

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/contracts"
modules="$dir/node_modules"
stamp="$modules/.nightjar-installed"

[ -f "$dir/package-lock.json" ] || die "$dir/package-lock.json is missing; is this a Nightjar checkout?"
[ "$(uname -s)" = "Linux" ] && [ "$(uname -m)" = "x86_64" ] \
  || die "the pinned Foundry packages are linux-amd64 builds; this machine is $(uname -s) $(uname -m)"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  command -v apt-get >/dev/null \
    || die "Node.js and npm are needed to install the chain tools; install them (Node.js 18 or later) and retry"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "== installing nodejs and npm (apt)" >&2
  { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq nodejs npm >&2; } \
    || die "apt-get could not install nodejs and npm; install Node.js 18 or later with npm and retry"
fi

forge="$modules/@foundry-rs/forge-linux-amd64/bin/forge"
anvil="$modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
cast="$modules/@foundry-rs/cast-linux-amd64/bin/cast"
solc="$dir/solc.cjs"

# What the installation must match: the manifest and the lockfile.
want="$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -d' ' -f1)"

installed_ok() {
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
    && "$forge" --version >/dev/null 2>&1 \
    && "$anvil" --version >/dev/null 2>&1 \
    && "$cast" --version >/dev/null 2>&1 \
    && [ -f "$modules/solc/soljson.js" ] \
    && [ -f "$modules/@openzeppelin/contracts/package.json" ]
}

if ! installed_ok; then
  echo "== npm ci in contracts/ (forge, anvil, cast, solcjs, OpenZeppelin; about 200 MB)" >&2
  rm -f "$stamp"
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2) \
    || die "npm ci failed in $dir (is the npm registry reachable?); see the messages above"
  echo "$want" >"$stamp"
  installed_ok || die "the tools were installed but do not run (forge, anvil or cast --version failed); see $modules"
fi

echo "forge=$forge"
echo "anvil=$anvil"
echo "cast=$cast"
echo "solc=$solc"
echo "bin=$modules/.bin"
