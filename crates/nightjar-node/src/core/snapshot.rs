//! The registry snapshot a node serves to `get_registry`.

/// The registry snapshot a node serves to bootstrapping clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrySnapshot {
    /// Events in the log.
    pub height: u64,
    /// `registry_snapshot_hash` of `text`.
    pub hash: [u8; 32],
    /// The registry in its canonical TOML form.
    pub text: std::sync::Arc<str>,
}

impl RegistrySnapshot {
    /// The snapshot of `registry`.
    pub fn of(registry: &nightjar_registry::Registry) -> RegistrySnapshot {
        let text = registry.to_toml();
        RegistrySnapshot {
            height: registry.height(),
            hash: nightjar_crypto::hash::registry_snapshot_hash(text.as_bytes()),
            text: text.into(),
        }
    }
}
