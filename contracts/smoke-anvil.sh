#!/usr/bin/env bash
# Smoke test of the committed artifacts on a real chain node: starts anvil on
# a free loopback port, deploys artifacts/NightjarTestToken.json and then
# artifacts/NodeRegistry.json from anvil's first dev account (so the registry
# lands at the address of the first case of test-vectors/registration.json),
# checks that the contract's registrationMessage is that case's signed
# message, registers the case's key with its real Ed25519 proof, and checks
# the nonce and the Registered event. Stops its anvil on exit.
#
# Run by contrib/check-contracts.sh after the forge tests; needs the tools of
# contrib/chain-tools.sh in node_modules/.
set -euo pipefail
cd "$(dirname "$0")"
bin="node_modules/.bin"
log="$(mktemp)"
anvil_pid=""
cleanup() {
  [ -n "$anvil_pid" ] && kill "$anvil_pid" 2>/dev/null && wait "$anvil_pid" 2>/dev/null
  rm -f "$log"
}
trap cleanup EXIT
fail() {
  echo "smoke-anvil.sh: $*" >&2
  exit 1
}

"$bin/anvil" --host 127.0.0.1 --port 0 --chain-id 31337 >"$log" 2>&1 &
anvil_pid=$!
port=""
for _ in $(seq 1 100); do
  port="$(sed -n 's/^Listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log")"
  [ -n "$port" ] && break
  kill -0 "$anvil_pid" 2>/dev/null || fail "anvil exited: $(cat "$log")"
  sleep 0.1
done
[ -n "$port" ] || fail "anvil did not start within 10 s: $(cat "$log")"
rpc="http://127.0.0.1:$port"

# anvil's first dev account (its well-known test key) and its deployments.
key=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
operator=0xf39Fd6e51aad88f6f4ce6aB8827279cffFb92266
token=0x5FbDB2315678afecb367f032d93F642f64180aa3
registry=0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512
stake=25000000000000000000000

field() { node -p "require('./artifacts/$1.json').$2"; }
vector() { node -p "require('../test-vectors/registration.json').cases[0].$1"; }
deploy() {
  local address
  address="$("$bin/cast" send --rpc-url "$rpc" --private-key "$key" --json --create "$1" \
    | node -p 'const r = JSON.parse(require("fs").readFileSync(0, "utf8")); r.status === "0x1" ? r.contractAddress : "failed"')"
  [ "${address,,}" = "${2,,}" ] || fail "deployment landed at $address, expected $2"
}

args="$("$bin/cast" abi-encode "f(address[],uint256)" "[$operator]" "$stake")"
deploy "$(field NightjarTestToken bytecode)${args#0x}" "$token"
args="$("$bin/cast" abi-encode "f(address,uint256,uint256,uint256,address,address)" \
  "$token" "$stake" 0 0 0x000000000000000000000000000000000000dEaD "$operator")"
deploy "$(field NodeRegistry bytecode)${args#0x}" "$registry"

node_key="0x$(vector node_key)"
signature="0x$(vector signature)"
message="$("$bin/cast" call --rpc-url "$rpc" "$registry" \
  "registrationMessage(bytes32,address,uint256)(bytes)" "$node_key" "$operator" 0)"
[ "$message" = "0x$(vector signed_message)" ] \
  || fail "registrationMessage on anvil differs from test-vectors/registration.json case 0"

"$bin/cast" send --rpc-url "$rpc" --private-key "$key" "$token" \
  "approve(address,uint256)" "$registry" "$stake" >/dev/null
"$bin/cast" send --rpc-url "$rpc" --private-key "$key" --json "$registry" \
  "register(bytes32,bytes,bytes)" "$node_key" 0x047f0000019c41 "$signature" \
  | node -e '
    const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const [registry, key, operator, sig] = process.argv.slice(1).map((s) => s.toLowerCase());
    const topic = "0x405b599784c074d76b41da30cd669d01936c6b772d6f02e76f0eec1d48b7bb3e";
    const log = r.logs.find((l) => l.address.toLowerCase() === registry && l.topics[0] === topic);
    const ok = r.status === "0x1" && log && log.topics[1] === key
      && log.topics[2] === "0x" + operator.slice(2).padStart(64, "0") && log.data.includes(sig.slice(2));
    if (!ok) { console.error("smoke-anvil.sh: register failed or its Registered event is wrong"); process.exit(1); }
  ' "$registry" "$node_key" "$operator" "$signature"
nonce="$("$bin/cast" call --rpc-url "$rpc" "$registry" "nonces(address)(uint256)" "$operator")"
[ "$nonce" = "1" ] || fail "nonces(operator) is $nonce after one registration, expected 1"
echo "anvil smoke test: artifacts deploy, registrationMessage matches the vector, register with a real proof ok"
