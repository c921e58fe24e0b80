//! Nightjar key files: where an identity seed lives on disk.
//!
//! A key file holds one 32-byte Ed25519 seed, encrypted by
//! `nightjar_crypto::at_rest::seal_seed` (with Argon2id when a passphrase is
//! given). Files are written to a temporary name and renamed into place, so a
//! crash never leaves half a key, and they are created with mode 0600 on Unix.
//!
//! This crate does not choose where keys live (the node's config and the
//! client's profile do) and does no cryptography of its own.

use std::io::Write;
use std::path::{Path, PathBuf};

use nightjar_crypto::at_rest::{open_seed, seal_seed};
use nightjar_crypto::identity::{Identity, Seed};

/// Environment variable that holds a passphrase for a profile's or node's key file.
pub const PASSPHRASE_ENV: &str = "NIGHTJAR_PASSPHRASE";

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeystoreError {
    /// No key file at that path; create one first.
    #[error("no key file at {0}")]
    Missing(PathBuf),
    /// A key file already exists; refusing to overwrite an identity.
    #[error("a key file already exists at {0}; refusing to overwrite it")]
    Exists(PathBuf),
    /// The file could not be read or written.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is damaged, or the passphrase is wrong or missing.
    #[error("key file {path}: {source}")]
    Crypto {
        /// The file.
        path: PathBuf,
        /// What the decryption said.
        #[source]
        source: nightjar_crypto::CryptoError,
    },
}

/// The passphrase from [`PASSPHRASE_ENV`], if set and not empty.
pub fn passphrase_from_env() -> Option<Vec<u8>> {
    std::env::var_os(PASSPHRASE_ENV)
        .map(|v| v.into_encoded_bytes())
        .filter(|v| !v.is_empty())
}

/// Write `seed` to a new key file at `path` (which must not exist).
pub fn create(path: &Path, seed: &Seed, passphrase: Option<&[u8]>) -> Result<(), KeystoreError> {
    if path.exists() {
        return Err(KeystoreError::Exists(path.to_path_buf()));
    }
    let blob = seal_seed(seed, passphrase).map_err(|source| KeystoreError::Crypto {
        path: path.to_path_buf(),
        source,
    })?;
    let io = |source| KeystoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(io)?;
    file.write_all(&blob).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io)?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        // Make the rename durable; failure here only weakens crash safety.
        let _ = d.sync_all();
    }
    Ok(())
}

/// Read the identity in the key file at `path`.
pub fn load(path: &Path, passphrase: Option<&[u8]>) -> Result<Identity, KeystoreError> {
    let blob = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(KeystoreError::Missing(path.to_path_buf()));
        }
        Err(source) => {
            return Err(KeystoreError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let seed = open_seed(&blob, passphrase).map_err(|source| KeystoreError::Crypto {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Identity::from_seed(seed))
}

/// Read the identity at `path`, or create a fresh one there if there is none.
pub fn load_or_create(path: &Path, passphrase: Option<&[u8]>) -> Result<Identity, KeystoreError> {
    match load(path, passphrase) {
        Err(KeystoreError::Missing(_)) => {
            let identity = Identity::generate().map_err(|source| KeystoreError::Crypto {
                path: path.to_path_buf(),
                source,
            })?;
            create(path, identity.seed(), passphrase)?;
            Ok(identity)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn created_key_loads_back_with_owner_only_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/id.key");
        let id = load_or_create(&path, None).unwrap();
        let again = load(&path, None).unwrap();
        assert_eq!(id.public_key(), again.public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let raw = std::fs::read(&path).unwrap();
        assert!(!raw.windows(32).any(|w| w == id.seed().as_bytes()));
    }

    #[test]
    fn existing_key_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("id.key");
        let id = load_or_create(&path, None).unwrap();
        let other = Identity::generate().unwrap();
        assert!(matches!(
            create(&path, other.seed(), None),
            Err(KeystoreError::Exists(_))
        ));
        assert_eq!(load(&path, None).unwrap().public_key(), id.public_key());
    }

    #[test]
    fn wrong_passphrase_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("id.key");
        load_or_create(&path, Some(b"correct horse")).unwrap();
        assert!(matches!(
            load(&path, Some(b"wrong")),
            Err(KeystoreError::Crypto { .. })
        ));
    }
}
