#!/usr/bin/env node
// The Solidity compiler that forge runs (foundry.toml: solc = "./solc.cjs"):
// solcjs, the WebAssembly build of solc pinned in package-lock.json and
// installed by contrib/chain-tools.sh. forge cannot download a native solc on
// our machines, and a local compiler keeps the build offline.
//
// forge calls `<solc> --version` (it reads the last non-empty line, minus a
// "Version: " prefix) and `<solc> [flags…] --standard-json` with the input
// JSON on stdin, expecting only the output JSON on stdout. The other flags
// forge passes (--allow-paths, --base-path, --include-path) do not matter:
// forge puts every source in the input JSON, and the compiler is given no
// file-system access (no import callback).
//
// Why not `solcjs --standard-json` behind a shell script: solcjs prints notes
// starting `>>>` on stdout before the JSON, and it reads stdin with a single
// synchronous read, which fails with EAGAIN when forge hands it a non-blocking
// pipe whose data has not arrived yet. This script calls the same compile
// function as solcjs, after reading stdin asynchronously.
"use strict";
const path = require("path");

let solc;
try {
  solc = require(path.join(__dirname, "node_modules", "solc"));
} catch (e) {
  process.stderr.write(
    `solc.cjs: cannot load solcjs from ${path.join(__dirname, "node_modules", "solc")} ` +
      `(${e.message}); run contrib/chain-tools.sh first\n`,
  );
  process.exit(1);
}

const args = process.argv.slice(2);
if (args.includes("--version")) {
  process.stdout.write(
    `solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`,
  );
} else if (args.includes("--standard-json")) {
  const chunks = [];
  process.stdin.on("data", (c) => chunks.push(c));
  process.stdin.on("end", () => {
    process.stdout.write(solc.compile(Buffer.concat(chunks).toString("utf8")));
  });
} else {
  process.stderr.write(`solc.cjs: only --version and --standard-json are supported (got: ${args.join(" ")})\n`);
  process.exit(2);
}
