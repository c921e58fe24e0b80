//! [`OperatorKey`]: the Ethereum account that pays for and signs an
//! operator's (or a deployer's) transactions.
//!
//! The key is a secp256k1 private key, 32 bytes written as 64 hex digits,
//! with or without `0x`, surrounded by whitespace or not (a trailing newline
//! is fine) — the form `cast wallet new` and anvil print. It comes from a
//! file that only its owner may read or write ([`OperatorKey::from_file`]),
//! or from an environment variable ([`OperatorKey::from_env`]). Every copy
//! of the secret this module makes is wiped when dropped, and the key prints
//! as its address only.

use std::fmt;
use std::io::Read;
use std::path::Path;

use alloy_primitives::Address;
use alloy_signer_local::PrivateKeySigner;
use zeroize::Zeroizing;

use crate::error::TxError;

/// Environment variable that holds an operator key (hex) for the
/// `nightjar operator` commands.
pub const OPERATOR_KEY_ENV: &str = "NIGHTJAR_OPERATOR_KEY";

/// Environment variable that holds a deployer key (hex) for
/// `nightjar operator deploy`.
pub const DEPLOYER_KEY_ENV: &str = "NIGHTJAR_DEPLOYER_KEY";

/// A key file larger than this is not a key file (64 hex digits, `0x`, and
/// whitespace need far less); it is refused without being read whole.
const MAX_KEY_FILE: u64 = 1024;

/// An Ethereum account's secp256k1 private key, loaded for signing
/// transactions through alloy's local signer.
///
/// `Debug` shows the address only; the secret is wiped on drop (by the
/// signer's `k256` key, and by this module for every buffer it read the key
/// into).
#[derive(Clone)]
pub struct OperatorKey {
    signer: PrivateKeySigner,
}

impl fmt::Debug for OperatorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperatorKey")
            .field("address", &self.address())
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl OperatorKey {
    /// The key written as hex in `text` (64 digits, `0x` optional,
    /// surrounding whitespace ignored). `source` names where the text came
    /// from, for the error (never the text itself).
    fn parse(text: &str, source: &str) -> Result<OperatorKey, TxError> {
        let bad = |reason: &str| TxError::InvalidKey {
            origin: source.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = text.trim();
        let digits = trimmed
            .strip_prefix("0x")
            .or_else(|| trimmed.strip_prefix("0X"))
            .unwrap_or(trimmed);
        if digits.is_empty() {
            return Err(bad("it is empty"));
        }
        if digits.len() != 64 {
            return Err(bad(&format!(
                "it has {} characters, not the 64 hex digits of a private key",
                digits.len()
            )));
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(digits, bytes.as_mut_slice())
            .map_err(|_| bad("it is not hexadecimal"))?;
        let signer = PrivateKeySigner::from_slice(bytes.as_slice()).map_err(|_| {
            bad("it is not a valid secp256k1 private key (zero, or not below the curve order)")
        })?;
        Ok(OperatorKey { signer })
    }

    /// The key in the file at `path`.
    ///
    /// Refused unless the file is a regular file that neither its group nor
    /// other users may access (mode `0600` or `0400`, as `chmod 600 FILE`
    /// sets): a key that others can read is no longer the operator's alone.
    pub fn from_file(path: &Path) -> Result<OperatorKey, TxError> {
        let source = format!("key file {}", path.display());
        let io = |e: std::io::Error| TxError::InvalidKey {
            origin: source.clone(),
            reason: format!("cannot read it: {e}"),
        };
        let mut file = std::fs::File::open(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(TxError::InvalidKey {
                origin: source,
                reason: "it is not a regular file".into(),
            });
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(TxError::KeyFilePermissions {
                    path: path.to_path_buf(),
                    mode,
                });
            }
        }
        if meta.len() > MAX_KEY_FILE {
            return Err(TxError::InvalidKey {
                origin: source,
                reason: format!(
                    "it is {} bytes long; a key file holds 64 hex digits",
                    meta.len()
                ),
            });
        }
        // Read into a buffer that never grows (so never leaves a copy behind)
        // and is wiped on drop.
        let mut text = Zeroizing::new(String::with_capacity(MAX_KEY_FILE as usize + 1));
        (&mut file)
            .take(MAX_KEY_FILE)
            .read_to_string(&mut text)
            .map_err(|e| TxError::InvalidKey {
                origin: source.clone(),
                reason: if e.kind() == std::io::ErrorKind::InvalidData {
                    "it is not text".into()
                } else {
                    format!("cannot read it: {e}")
                },
            })?;
        OperatorKey::parse(&text, &source)
    }

    /// The key in the environment variable `var` (hex, as in a key file).
    /// `Ok(None)` if the variable is not set or empty.
    pub fn from_env(var: &str) -> Result<Option<OperatorKey>, TxError> {
        OperatorKey::from_env_value(var, std::env::var_os(var))
    }

    /// [`OperatorKey::from_env`] of the value `value` read from `var`.
    fn from_env_value(
        var: &str,
        value: Option<std::ffi::OsString>,
    ) -> Result<Option<OperatorKey>, TxError> {
        let Some(value) = value else {
            return Ok(None);
        };
        let value = Zeroizing::new(value.into_encoded_bytes());
        if value.is_empty() {
            return Ok(None);
        }
        let source = format!("environment variable {var}");
        let text = std::str::from_utf8(&value).map_err(|_| TxError::InvalidKey {
            origin: source.clone(),
            reason: "it is not text".into(),
        })?;
        OperatorKey::parse(text, &source).map(Some)
    }

    /// The key written as hex in `text` (64 digits, `0x` optional,
    /// surrounding whitespace ignored), e.g. one of anvil's public dev keys
    /// in a test. Prefer [`OperatorKey::from_file`] or
    /// [`OperatorKey::from_env`] for real keys.
    pub fn from_hex(text: &str) -> Result<OperatorKey, TxError> {
        OperatorKey::parse(text, "the given key")
    }

    /// The account's address.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// The signer, for the transaction layer.
    pub(crate) fn signer(&self) -> &PrivateKeySigner {
        &self.signer
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// Anvil's first dev account (public test material).
    const DEV_KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    const DEV_ADDRESS: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

    fn write(dir: &Path, name: &str, contents: &[u8], mode: u32) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    fn dev_address() -> Address {
        DEV_ADDRESS.parse().unwrap()
    }

    #[test]
    fn every_accepted_spelling_gives_the_same_address() {
        let dir = tempfile::tempdir().unwrap();
        let upper = DEV_KEY.to_uppercase();
        let spellings = [
            DEV_KEY.to_owned(),
            format!("0x{DEV_KEY}"),
            format!("0X{upper}"),
            format!("{DEV_KEY}\n"),
            format!("0x{DEV_KEY}\r\n"),
            format!("  \t0x{DEV_KEY}  \n\n"),
        ];
        for (i, text) in spellings.iter().enumerate() {
            let path = write(dir.path(), &format!("k{i}"), text.as_bytes(), 0o600);
            assert_eq!(
                OperatorKey::from_file(&path).unwrap().address(),
                dev_address(),
                "{text:?}"
            );
            assert_eq!(
                OperatorKey::from_hex(text).unwrap().address(),
                dev_address()
            );
        }
        // Owner-read-only is fine too.
        let path = write(dir.path(), "ro", DEV_KEY.as_bytes(), 0o400);
        assert_eq!(
            OperatorKey::from_file(&path).unwrap().address(),
            dev_address()
        );
    }

    #[test]
    fn a_key_file_others_may_access_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [
            0o644,
            0o640,
            0o604,
            0o660,
            0o606,
            0o610,
            0o601,
            0o700 | 0o020,
        ] {
            let path = write(dir.path(), "k", DEV_KEY.as_bytes(), mode);
            let err = OperatorKey::from_file(&path).unwrap_err();
            assert!(
                matches!(err, TxError::KeyFilePermissions { mode: m, .. } if m == mode & 0o777),
                "{mode:o}: {err}"
            );
            let message = err.to_string();
            assert!(message.contains("chmod 600"), "{message}");
            assert!(
                message.contains(&format!("{:o}", mode & 0o777)),
                "{message}"
            );
            assert!(!message.contains(DEV_KEY), "{message}");
        }
    }

    #[test]
    fn malformed_keys_are_refused_without_echoing_them() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&str, &str); 7] = [
            ("", "empty"),
            ("0x", "empty"),
            (&DEV_KEY[..63], "63 characters"),
            (
                "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff8000",
                "66",
            ),
            (
                "zz0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
                "hexadecimal",
            ),
            (
                "0000000000000000000000000000000000000000000000000000000000000000",
                "not a valid secp256k1",
            ),
            (
                // The curve order n itself.
                "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
                "not a valid secp256k1",
            ),
        ];
        for (text, expected) in cases {
            let path = write(dir.path(), "k", text.as_bytes(), 0o600);
            let message = OperatorKey::from_file(&path).unwrap_err().to_string();
            assert!(message.contains(expected), "{text:?}: {message}");
            assert!(message.contains("key file"), "{message}");
            if !text.is_empty() && text != "0x" {
                assert!(!message.contains(text), "{message}");
            }
            let message = OperatorKey::from_hex(text).unwrap_err().to_string();
            assert!(message.contains(expected), "{text:?}: {message}");
        }
        // Not text, too long, a directory, missing.
        let path = write(dir.path(), "bin", &[0xff, 0xfe, 0x00, 0x80], 0o600);
        let message = OperatorKey::from_file(&path).unwrap_err().to_string();
        assert!(message.contains("not text"), "{message}");
        let path = write(dir.path(), "big", &[b'a'; 4096], 0o600);
        let message = OperatorKey::from_file(&path).unwrap_err().to_string();
        assert!(message.contains("4096 bytes"), "{message}");
        let message = OperatorKey::from_file(dir.path()).unwrap_err().to_string();
        assert!(message.contains("not a regular file"), "{message}");
        let message = OperatorKey::from_file(&dir.path().join("none"))
            .unwrap_err()
            .to_string();
        assert!(message.contains("cannot read it"), "{message}");
    }

    #[test]
    fn environment_variable() {
        // `std::env::set_var` is unsafe (and the workspace forbids unsafe
        // code), so the value is handed in as `from_env` reads it; the CLI's
        // anvil test sets the real variable on a child process.
        let var = "NIGHTJAR_TEST_UNSET_OPERATOR_KEY";
        assert!(OperatorKey::from_env(var).unwrap().is_none());
        let value = |text: &str| Some(std::ffi::OsString::from(text));
        assert!(OperatorKey::from_env_value(var, None).unwrap().is_none());
        assert!(
            OperatorKey::from_env_value(var, value(""))
                .unwrap()
                .is_none()
        );
        let key = OperatorKey::from_env_value(var, value(&format!("0x{DEV_KEY}\n")))
            .unwrap()
            .unwrap();
        assert_eq!(key.address(), dev_address());
        let message = OperatorKey::from_env_value(var, value("nope"))
            .unwrap_err()
            .to_string();
        assert!(message.contains(var), "{message}");
        assert!(!message.contains("nope"), "{message}");
    }

    #[test]
    fn debug_is_redacted() {
        let key = OperatorKey::from_hex(DEV_KEY).unwrap();
        for text in [format!("{key:?}"), format!("{key:#?}")] {
            assert!(!text.to_lowercase().contains(DEV_KEY), "{text}");
            assert!(!text.to_lowercase().contains(&DEV_KEY[..16]), "{text}");
            assert!(text.contains("redacted"), "{text}");
            assert!(
                text.to_lowercase()
                    .contains(&DEV_ADDRESS.to_lowercase()[2..]),
                "{text}"
            );
        }
    }
}
