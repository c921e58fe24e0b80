//! What a node started from a configuration file needs on disk: its key
//! file and `node.toml`, in its data directory, beside its log.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use nightjar_crypto::identity::{Identity, PublicKey};
use nightjar_node::NodeConfig;

use crate::{Launch, LaunchError, NodeBinary};

/// The configuration file's name in a node's data directory.
pub const CONFIG_FILE: &str = "node.toml";

/// The log file's name in a node's data directory.
pub const LOG_FILE: &str = "node.log";

/// `data_dir/node.toml`.
pub fn config_file_in(data_dir: &Path) -> PathBuf {
    data_dir.join(CONFIG_FILE)
}

/// `data_dir/node.log`.
pub fn log_file_in(data_dir: &Path) -> PathBuf {
    data_dir.join(LOG_FILE)
}

/// Where a node's files were written, and what a [`Launch`] of it needs.
#[derive(Clone, Debug)]
pub struct NodeFiles {
    /// The configuration file.
    pub config: PathBuf,
    /// The log file the node's output goes to.
    pub log: PathBuf,
    /// The QUIC address it listens on.
    pub listen: SocketAddr,
    /// Its identity key.
    pub key: PublicKey,
}

impl NodeFiles {
    /// A launch of this node: `binary --config CONFIG`, output to the log.
    pub fn launch(&self, binary: &NodeBinary) -> Launch {
        Launch::new(binary, self.listen, self.key, &self.log).config_file(&self.config)
    }
}

/// Write `identity`'s key file (unencrypted: nodes the launcher starts get
/// no passphrase) unless that file already holds this identity. A key file
/// holding another identity is never overwritten.
pub fn write_key(path: &Path, identity: &Identity) -> Result<(), LaunchError> {
    if path.exists() {
        let found = nightjar_keystore::load(path, None)?.public_key();
        let expected = identity.public_key();
        if found != expected {
            return Err(LaunchError::KeyMismatch {
                path: path.to_path_buf(),
                found: found.to_hex(),
                expected: expected.to_hex(),
            });
        }
        return Ok(());
    }
    nightjar_keystore::create(path, identity.seed(), None)?;
    Ok(())
}

/// Create `config.data_dir`, write `identity`'s key at `config.key_path()`
/// ([`write_key`]) and the configuration as `data_dir/node.toml`.
pub fn write_node_files(
    config: &NodeConfig,
    identity: &Identity,
) -> Result<NodeFiles, LaunchError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| LaunchError::Io {
        action: "create",
        path: config.data_dir.clone(),
        source,
    })?;
    write_key(&config.key_path(), identity)?;
    let path = config_file_in(&config.data_dir);
    std::fs::write(&path, config.to_toml()).map_err(|source| LaunchError::Io {
        action: "write",
        path: path.clone(),
        source,
    })?;
    Ok(NodeFiles {
        config: path,
        log: log_file_in(&config.data_dir),
        listen: config.listen,
        key: identity.public_key(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_key_and_config_and_rewrites_the_same_identity() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let identity = Identity::generate().expect("identity");
        let config = NodeConfig::new(
            "127.0.0.1:4000".parse().expect("addr"),
            tmp.path().join("n"),
        );
        let files = write_node_files(&config, &identity).expect("written");
        assert_eq!(files.config, tmp.path().join("n").join("node.toml"));
        assert_eq!(files.log, tmp.path().join("n").join("node.log"));
        assert_eq!(files.key, identity.public_key());
        let back = NodeConfig::from_file(&files.config).expect("parses");
        assert_eq!(back.listen, config.listen);
        let key = nightjar_keystore::load(&config.key_path(), None).expect("key");
        assert_eq!(key.public_key(), identity.public_key());
        write_node_files(&config, &identity).expect("same identity again");
    }

    #[test]
    fn never_overwrites_another_identity() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("node.key");
        write_key(&path, &Identity::generate().expect("identity")).expect("first");
        let err = write_key(&path, &Identity::generate().expect("identity")).expect_err("other");
        assert!(matches!(err, LaunchError::KeyMismatch { .. }), "{err}");
    }
}
