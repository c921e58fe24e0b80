#!/usr/bin/env node
// Writes the committed artifacts (artifacts/<Contract>.json) from forge's
// build output (out/), so that Rust code can deploy and call the contracts
// without Node.js: `abi`, creation `bytecode` and `deployedBytecode` (0x-hex),
// and the compiler settings they depend on. Run by contrib/check-contracts.sh:
//
//   node export-artifacts.cjs <output directory>
//
// The output is deterministic (foundry.toml pins the compiler and strips the
// metadata hash), so CI regenerates it and compares it byte for byte.
"use strict";
const fs = require("fs");
const path = require("path");

const CONTRACTS = ["NodeRegistry", "NightjarTestToken"];

const outDir = process.argv[2];
if (!outDir) {
  process.stderr.write("usage: node export-artifacts.cjs <output directory>\n");
  process.exit(2);
}
fs.mkdirSync(outDir, { recursive: true });
for (const name of CONTRACTS) {
  const built = path.join(__dirname, "out", `${name}.sol`, `${name}.json`);
  if (!fs.existsSync(built)) {
    process.stderr.write(`export-artifacts.cjs: ${built} is missing; run forge build first\n`);
    process.exit(1);
  }
  const a = JSON.parse(fs.readFileSync(built, "utf8"));
  const m = a.metadata || {};
  const settings = m.settings || {};
  const artifact = {
    contractName: name,
    source: `contracts/src/${name}.sol`,
    compiler: {
      solc: (m.compiler || {}).version,
      optimizer: settings.optimizer,
      evmVersion: settings.evmVersion,
      metadata: "none (bytecode_hash = none, cbor_metadata = false)",
    },
    abi: a.abi,
    bytecode: a.bytecode.object,
    deployedBytecode: a.deployedBytecode.object,
  };
  if (!/^0x[0-9a-f]+$/.test(artifact.bytecode) || Object.keys(a.bytecode.linkReferences || {}).length) {
    process.stderr.write(`export-artifacts.cjs: ${name}'s bytecode is empty or needs linking\n`);
    process.exit(1);
  }
  fs.writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(artifact, null, 2) + "\n");
}
