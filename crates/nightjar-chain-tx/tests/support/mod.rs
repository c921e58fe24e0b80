//! Test-only: a real local chain, `anvil` (installed by
//! `contrib/chain-tools.sh`), on a free loopback port, killed on drop. Std
//! only, so that the `nightjar` package's CLI test and `nightjar-chain`'s
//! test support (which adds a provider) include this file too (`#[path]`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Anvil's chain ID.
pub const CHAIN_ID: u64 = 31337;

/// The private keys of anvil's ten default dev accounts (derived from its
/// public test mnemonic `test test … junk`): public test material, funded
/// with ether on every anvil, never for a real network.
pub const DEV_KEYS: [&str; 10] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
];

fn workspace_root() -> PathBuf {
    // Every including package sits in crates/<name>/.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The anvil binary: `$NIGHTJAR_ANVIL`, else what `contrib/chain-tools.sh`
/// installs (it is run, and installs from the committed lockfile if
/// needed). Panics with the script's message if it cannot: these tests
/// never pass without a chain.
pub fn anvil_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("NIGHTJAR_ANVIL") {
        return PathBuf::from(path);
    }
    let script = workspace_root().join("contrib/chain-tools.sh");
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "this test needs anvil, and `bash contrib/chain-tools.sh` could not install it \
         (run it by hand to see why, or set NIGHTJAR_ANVIL):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("anvil=").map(PathBuf::from))
        .expect("contrib/chain-tools.sh printed no anvil= line")
}

/// A running anvil on a free loopback port (chain 31337, a block per
/// transaction), killed on drop, also when the test panics.
pub struct Anvil {
    child: Child,
    /// Its JSON-RPC URL.
    pub url: String,
}

impl Anvil {
    /// Starts anvil and waits until it says it listens (its own readiness
    /// line, not a sleep).
    pub fn start() -> Anvil {
        let binary = anvil_binary();
        let mut child = Command::new(&binary)
            .args(["--host", "127.0.0.1", "--port", "0", "--chain-id"])
            .arg(CHAIN_ID.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let stdout = child.stdout.take().expect("anvil's stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("Listening on ") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => Anvil {
                child,
                url: format!("http://{addr}"),
            },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "anvil ({}) did not start listening within 30 s",
                    binary.display()
                );
            }
        }
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
