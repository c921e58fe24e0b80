//! `registry_files`: the registry log and the network file.

use std::path::Path;

use nightjar_registry::{NetworkFile, Registry};

/// Fuzzes the TOML decoders of `nightjar-registry`: `Registry::from_toml`
/// (the registry log, `registry.toml`, which `from_toml` also replays into
/// swarms) and `NetworkFile::from_toml` (a client's `network.toml`).
///
/// Checks: neither panics (nor overflows the stack) on any text (lossy
/// UTF-8); a registry that parses lists its live nodes without error and
/// survives `to_toml` → `from_toml` unchanged; a network file that parses
/// survives the same round trip.
pub fn registry_files(data: &[u8]) {
    let text = String::from_utf8_lossy(data);

    if let Ok(registry) = Registry::from_toml(&text) {
        match registry.live_nodes() {
            Ok(live) => assert!(
                live.len() <= registry.nodes.len() + registry.events.len(),
                "more live nodes than joins"
            ),
            Err(e) => panic!("a registry that parsed does not replay: {e}"),
        }
        let rendered = registry.to_toml();
        match Registry::from_toml(&rendered) {
            Ok(again) => assert_eq!(again, registry, "registry changed across a round trip"),
            Err(e) => panic!("rendered registry does not parse: {e}\n{rendered}"),
        }
    }

    let base = Path::new("/nonexistent");
    if let Ok(network) = NetworkFile::from_toml(&text, base) {
        // The registry path is written back as given; pass the resolved one
        // (absolute, since `base` is) so the re-parse resolves to the same.
        let registry = network.registry.as_ref().and_then(|p| p.to_str());
        if network.registry.is_none() || registry.is_some() {
            let rendered = network.to_toml(registry);
            match NetworkFile::from_toml(&rendered, base) {
                Ok(again) => assert_eq!(again, network, "network file changed across a round trip"),
                Err(e) => panic!("rendered network file does not parse: {e}\n{rendered}"),
            }
        }
    }
}
