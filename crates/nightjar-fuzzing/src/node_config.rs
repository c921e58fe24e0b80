//! `node_config`: the node's configuration file.

use nightjar_node::NodeConfig;

/// Fuzzes `nightjar_node::NodeConfig::from_toml`, the parser of the
/// operator's `node.toml` (also run by `nightjar-node check-config`).
///
/// Checks: parsing any text (lossy UTF-8) never panics; a configuration that
/// parses can be validated and its paths derived without panicking, and it
/// survives `to_toml` → `from_toml` unchanged, with the same `validate`
/// verdict (so a checked file stays valid when a tool rewrites it).
pub fn node_config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(config) = NodeConfig::from_toml(&text) else {
        return;
    };
    let valid = config.validate().is_ok();
    let _ = (config.key_path(), config.db_path());

    let rendered = config.to_toml();
    match NodeConfig::from_toml(&rendered) {
        Ok(again) => {
            assert_eq!(again, config, "node config changed across a round trip");
            assert_eq!(
                again.validate().is_ok(),
                valid,
                "validate changed its verdict across a round trip"
            );
        }
        Err(e) => panic!("rendered node config does not parse: {e}\n{rendered}"),
    }
}
