//! Encryption of client data at rest: the local-store cipher and the key file.
//!
//! # Local store
//!
//! [`LocalCipher`] encrypts records of the client's local database under
//! `key = BLAKE2b(outlen 32, key "nightjar/v1/local-store", seed)`.
//! A blob is `nonce (24, random) ‖ XChaCha20-Poly1305-IETF(key, nonce, plaintext, aad)`.
//!
//! # Key file
//!
//! [`seal_seed`] stores a [`Seed`] encrypted, in exactly 102 bytes:
//!
//! ```text
//! offset size
//!  0      1   version = 0x01
//!  1      1   kdf: 0x00 = no passphrase, 0x01 = Argon2id v1.3
//!  2     16   salt (random)
//! 18      4   m_kib (u32 big-endian)   Argon2id memory in KiB (0 for kdf 0)
//! 22      4   t     (u32 big-endian)   Argon2id passes        (0 for kdf 0)
//! 26      4   p     (u32 big-endian)   Argon2id lanes         (0 for kdf 0)
//! 30     24   nonce (random)
//! 54     48   XChaCha20-Poly1305-IETF(key, nonce, seed, aad = bytes 0..54)
//! ```
//!
//! (The 54 header bytes are version ‖ kdf ‖ salt ‖ params ‖ nonce.)
//!
//! - kdf 0x01 (a non-empty passphrase was given):
//!   `key = Argon2id v1.3(passphrase, salt, m = 19456 KiB, t = 2, p = 1, 32 bytes)`
//!   (libsodium `crypto_pwhash(key, 32, pw, salt, opslimit = t,
//!   memlimit = m·1024, crypto_pwhash_ALG_ARGON2ID13)`).
//! - kdf 0x00 (no passphrase): `key = BLAKE2b(outlen 32, key
//!   "nightjar/v1/keyfile-nopass", salt)`. **This only protects against
//!   casual reading**: anyone who has the file can compute the key. It keeps
//!   the seed from showing up in a `grep` or a hex dump, nothing more; the
//!   file's permissions are what protect it.

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::CryptoError;
use crate::hash::blake2b_keyed_32;
use crate::identity::Seed;
use crate::labels;
use crate::random::os_random;

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Bytes a [`LocalCipher`] blob adds to its plaintext (nonce + tag).
pub const LOCAL_OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// Builds the AEAD for a 32-byte key.
fn aead(key: &[u8; 32]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(key.into())
}

// ---------------------------------------------------------------------------
// LocalCipher
// ---------------------------------------------------------------------------

/// Authenticated encryption for the client's local storage, keyed from the seed.
///
/// The key is zeroized on drop; `Debug` prints `[redacted]`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct LocalCipher {
    key: [u8; 32],
}

impl LocalCipher {
    /// Derives the local-storage key from a seed.
    pub fn from_seed(seed: &Seed) -> LocalCipher {
        LocalCipher {
            key: *blake2b_keyed_32(labels::LOCAL_STORE, &[seed.as_bytes()]),
        }
    }

    /// Encrypts `plaintext`, binding `aad` (for example the record's table
    /// and primary key), under a fresh random nonce.
    /// Returns `nonce (24) ‖ ciphertext ‖ tag (16)`.
    pub fn encrypt(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        os_random(&mut nonce)?;
        self.encrypt_with_nonce(&nonce, aad, plaintext)
    }

    /// Encrypts with a caller-chosen nonce.
    ///
    /// **For test vectors only**: a nonce must never be used twice with the
    /// same key. Real code calls [`LocalCipher::encrypt`].
    pub fn encrypt_with_nonce(
        &self,
        nonce: &[u8; 24],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(nonce);
        out.extend_from_slice(plaintext);
        let tag = aead(&self.key)
            .encrypt_inout_detached(
                &(*nonce).into(),
                aad,
                out.get_mut(NONCE_LEN..).unwrap_or_default().into(),
            )
            .map_err(|_| CryptoError::InvalidLength {
                what: "a local-store plaintext",
                expected: 1 << 38,
                got: plaintext.len(),
            })?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Decrypts a blob made by [`LocalCipher::encrypt`] with the same `aad`.
    ///
    /// Fails with [`CryptoError::Truncated`] if the blob is shorter than 40
    /// bytes and [`CryptoError::DecryptFailed`] if it was altered, belongs to
    /// another identity, or `aad` differs.
    pub fn decrypt(&self, aad: &[u8], blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if blob.len() < LOCAL_OVERHEAD {
            return Err(CryptoError::Truncated(blob.len()));
        }
        let (nonce, rest) = blob
            .split_first_chunk::<NONCE_LEN>()
            .ok_or(CryptoError::Truncated(blob.len()))?;
        let (ct, tag) = rest
            .split_last_chunk::<TAG_LEN>()
            .ok_or(CryptoError::Truncated(blob.len()))?;
        let mut pt = Zeroizing::new(ct.to_vec());
        aead(&self.key)
            .decrypt_inout_detached(
                &(*nonce).into(),
                aad,
                pt.as_mut_slice().into(),
                &(*tag).into(),
            )
            .map_err(|_| CryptoError::DecryptFailed)?;
        Ok(pt)
    }
}

impl core::fmt::Debug for LocalCipher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("LocalCipher([redacted])")
    }
}

// ---------------------------------------------------------------------------
// Key file
// ---------------------------------------------------------------------------

/// Key-file format version byte.
pub const KEYFILE_VERSION_1: u8 = 0x01;

/// Key-file KDF byte: no passphrase (obfuscation only).
pub const KDF_NONE: u8 = 0x00;

/// Key-file KDF byte: Argon2id v1.3 over the passphrase.
pub const KDF_ARGON2ID: u8 = 0x01;

/// Argon2id memory cost used when writing key files, in KiB (19 MiB).
pub const ARGON2_M_KIB: u32 = 19_456;

/// Argon2id passes used when writing key files.
pub const ARGON2_T: u32 = 2;

/// Argon2id lanes used when writing key files (libsodium supports only 1).
pub const ARGON2_P: u32 = 1;

/// Largest Argon2id memory cost accepted when reading, in KiB (256 MiB):
/// enough headroom over [`ARGON2_M_KIB`] for stronger settings later, while a
/// hostile key file cannot make opening it cost more than about a second.
pub const ARGON2_MAX_M_KIB: u32 = 256 * 1024;

/// Largest Argon2id pass count accepted when reading.
pub const ARGON2_MAX_T: u32 = 16;

/// Length of a key file's header (authenticated, unencrypted), in bytes.
pub const KEYFILE_HEADER_LEN: usize = 1 + 1 + 16 + 12 + 24;

/// Length of a key file, in bytes.
pub const KEYFILE_LEN: usize = KEYFILE_HEADER_LEN + 32 + TAG_LEN;

/// A parsed key-file header.
struct Header<'a> {
    kdf: u8,
    salt: &'a [u8; 16],
    m_kib: u32,
    t: u32,
    p: u32,
    nonce: &'a [u8; 24],
}

fn read_u32(bytes: &[u8], at: usize) -> Result<u32, CryptoError> {
    bytes
        .get(at..at + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map(u32::from_be_bytes)
        .ok_or(CryptoError::Truncated(bytes.len()))
}

fn parse_header(blob: &[u8]) -> Result<Header<'_>, CryptoError> {
    let truncated = CryptoError::Truncated(blob.len());
    let version = *blob.first().ok_or(truncated.clone())?;
    if version != KEYFILE_VERSION_1 {
        return Err(CryptoError::KeyfileUnknownVersion(version));
    }
    if blob.len() != KEYFILE_LEN {
        return Err(if blob.len() < KEYFILE_LEN {
            truncated
        } else {
            CryptoError::InvalidLength {
                what: "a key file",
                expected: KEYFILE_LEN,
                got: blob.len(),
            }
        });
    }
    let kdf = *blob.get(1).ok_or(truncated.clone())?;
    let salt = blob
        .get(2..18)
        .and_then(|s| s.try_into().ok())
        .ok_or(truncated.clone())?;
    let m_kib = read_u32(blob, 18)?;
    let t = read_u32(blob, 22)?;
    let p = read_u32(blob, 26)?;
    let nonce = blob
        .get(30..54)
        .and_then(|s| s.try_into().ok())
        .ok_or(truncated)?;
    match kdf {
        KDF_NONE => {
            if (m_kib, t, p) != (0, 0, 0) {
                return Err(CryptoError::KeyfileBadParams { m_kib, t, p });
            }
        }
        KDF_ARGON2ID => {
            // libsodium's Argon2id is single-lane; its minimum memory is 8 KiB.
            if p != 1
                || !(8..=ARGON2_MAX_M_KIB).contains(&m_kib)
                || !(1..=ARGON2_MAX_T).contains(&t)
            {
                return Err(CryptoError::KeyfileBadParams { m_kib, t, p });
            }
        }
        other => return Err(CryptoError::KeyfileUnknownKdf(other)),
    }
    Ok(Header {
        kdf,
        salt,
        m_kib,
        t,
        p,
        nonce,
    })
}

/// Argon2id v1.3 of `passphrase` and `salt` into a 32-byte key.
fn argon2id(
    passphrase: &[u8],
    salt: &[u8; 16],
    m_kib: u32,
    t: u32,
    p: u32,
) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let params =
        argon2::Params::new(m_kib, t, p, Some(32)).map_err(|e| CryptoError::Kdf(e.to_string()))?;
    let ctx = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    ctx.hash_password_into(passphrase, salt, &mut *key)
        .map_err(|e| CryptoError::Kdf(e.to_string()))?;
    Ok(key)
}

/// A passphrase counts only if it is non-empty.
fn effective(passphrase: Option<&[u8]>) -> Option<&[u8]> {
    passphrase.filter(|p| !p.is_empty())
}

/// Encrypts a seed into a 102-byte key file (see the module docs).
///
/// With a non-empty `passphrase`, the key comes from Argon2id (kdf 0x01);
/// with `None` or an empty passphrase, from a keyed hash of the salt
/// (kdf 0x00), which protects only against casual reading.
pub fn seal_seed(seed: &Seed, passphrase: Option<&[u8]>) -> Result<Vec<u8>, CryptoError> {
    let mut salt = [0u8; 16];
    os_random(&mut salt)?;
    let mut nonce = [0u8; 24];
    os_random(&mut nonce)?;
    seal_seed_with(seed, passphrase, &salt, &nonce)
}

/// Like [`seal_seed`] with a caller-chosen salt and nonce.
///
/// **For test vectors only**: real code calls [`seal_seed`], which draws
/// both at random.
pub fn seal_seed_with(
    seed: &Seed,
    passphrase: Option<&[u8]>,
    salt: &[u8; 16],
    nonce: &[u8; 24],
) -> Result<Vec<u8>, CryptoError> {
    let (kdf, (m_kib, t, p)) = match effective(passphrase) {
        Some(_) => (KDF_ARGON2ID, (ARGON2_M_KIB, ARGON2_T, ARGON2_P)),
        None => (KDF_NONE, (0, 0, 0)),
    };
    let key = match effective(passphrase) {
        Some(pw) => argon2id(pw, salt, m_kib, t, p)?,
        None => blake2b_keyed_32(labels::KEYFILE_NOPASS, &[salt]),
    };
    let mut out = Vec::with_capacity(KEYFILE_LEN);
    out.push(KEYFILE_VERSION_1);
    out.push(kdf);
    out.extend_from_slice(salt);
    out.extend_from_slice(&m_kib.to_be_bytes());
    out.extend_from_slice(&t.to_be_bytes());
    out.extend_from_slice(&p.to_be_bytes());
    out.extend_from_slice(nonce);
    let mut body = Zeroizing::new(*seed.as_bytes());
    let tag = aead(&key)
        .encrypt_inout_detached(&(*nonce).into(), &out, body.as_mut_slice().into())
        .map_err(|_| CryptoError::DecryptFailed)?;
    out.extend_from_slice(&*body);
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Decrypts a key file made by [`seal_seed`].
///
/// Errors: [`CryptoError::PassphraseRequired`] if the file needs a
/// passphrase and none (or an empty one) was given;
/// [`CryptoError::PassphraseNotExpected`] if one was given for a file without;
/// [`CryptoError::WrongPassphrase`] if it does not open the file;
/// [`CryptoError::KeyfileCorrupt`] if a passphrase-less file was altered;
/// [`CryptoError::Truncated`], [`CryptoError::KeyfileUnknownVersion`],
/// [`CryptoError::KeyfileUnknownKdf`], [`CryptoError::KeyfileBadParams`]
/// for malformed files.
pub fn open_seed(blob: &[u8], passphrase: Option<&[u8]>) -> Result<Seed, CryptoError> {
    let h = parse_header(blob)?;
    let key = match (h.kdf, effective(passphrase)) {
        (KDF_NONE, None) => blake2b_keyed_32(labels::KEYFILE_NOPASS, &[h.salt]),
        (KDF_NONE, Some(_)) => return Err(CryptoError::PassphraseNotExpected),
        (_, None) => return Err(CryptoError::PassphraseRequired),
        (_, Some(pw)) => argon2id(pw, h.salt, h.m_kib, h.t, h.p)?,
    };
    let (header, rest) = blob
        .split_at_checked(KEYFILE_HEADER_LEN)
        .ok_or(CryptoError::Truncated(blob.len()))?;
    let (ct, tag) = rest
        .split_first_chunk::<32>()
        .ok_or(CryptoError::Truncated(blob.len()))?;
    let tag: &[u8; TAG_LEN] = tag
        .try_into()
        .map_err(|_| CryptoError::Truncated(blob.len()))?;
    let mut seed = Seed::from_bytes(*ct);
    let result = aead(&key).decrypt_inout_detached(
        &(*h.nonce).into(),
        header,
        seed.as_bytes_mut().as_mut_slice().into(),
        &(*tag).into(),
    );
    match result {
        Ok(()) => Ok(seed),
        Err(_) if h.kdf == KDF_NONE => Err(CryptoError::KeyfileCorrupt),
        Err(_) => Err(CryptoError::WrongPassphrase),
    }
}

/// Whether a key file needs a passphrase to open (kdf 0x01).
///
/// Validates the header (version, length, kdf, parameters) but does not
/// decrypt anything.
pub fn keyfile_needs_passphrase(blob: &[u8]) -> Result<bool, CryptoError> {
    Ok(parse_header(blob)?.kdf == KDF_ARGON2ID)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn seed() -> Seed {
        Seed::from_bytes([0x42; 32])
    }

    #[test]
    fn local_cipher_round_trips_and_binds_aad() {
        let c = LocalCipher::from_seed(&seed());
        let blob = c.encrypt(b"messages/1", b"secret text").unwrap();
        assert_eq!(blob.len(), 11 + LOCAL_OVERHEAD);
        assert_eq!(&**c.decrypt(b"messages/1", &blob).unwrap(), b"secret text");
        assert_eq!(
            c.decrypt(b"messages/2", &blob),
            Err(CryptoError::DecryptFailed)
        );
        let other = LocalCipher::from_seed(&Seed::from_bytes([1; 32]));
        assert_eq!(
            other.decrypt(b"messages/1", &blob),
            Err(CryptoError::DecryptFailed)
        );
    }

    #[test]
    fn local_cipher_rejects_tampering_and_truncation() {
        let c = LocalCipher::from_seed(&seed());
        let blob = c.encrypt(b"", b"").unwrap();
        assert_eq!(blob.len(), LOCAL_OVERHEAD);
        assert!(c.decrypt(b"", &blob).unwrap().is_empty());
        for i in 0..blob.len() {
            let mut t = blob.clone();
            t[i] ^= 1;
            assert_eq!(c.decrypt(b"", &t), Err(CryptoError::DecryptFailed));
        }
        assert_eq!(c.decrypt(b"", &blob[..39]), Err(CryptoError::Truncated(39)));
        assert_eq!(c.decrypt(b"", &[]), Err(CryptoError::Truncated(0)));
    }

    #[test]
    fn local_cipher_uses_fresh_nonces() {
        let c = LocalCipher::from_seed(&seed());
        assert_ne!(c.encrypt(b"", b"x").unwrap(), c.encrypt(b"", b"x").unwrap());
        assert_eq!(format!("{c:?}"), "LocalCipher([redacted])");
    }

    #[test]
    fn keyfile_without_passphrase_round_trips() {
        let blob = seal_seed(&seed(), None).unwrap();
        assert_eq!(blob.len(), 102);
        assert_eq!(blob[0], KEYFILE_VERSION_1);
        assert_eq!(blob[1], KDF_NONE);
        assert_eq!(&blob[18..30], &[0u8; 12]);
        assert!(!keyfile_needs_passphrase(&blob).unwrap());
        assert_eq!(
            open_seed(&blob, None).unwrap().as_bytes(),
            seed().as_bytes()
        );
        assert_eq!(
            open_seed(&blob, Some(b"")).unwrap().as_bytes(),
            seed().as_bytes()
        );
        assert_eq!(
            open_seed(&blob, Some(b"pw")).unwrap_err(),
            CryptoError::PassphraseNotExpected
        );
        // An empty passphrase means "no passphrase".
        let blob = seal_seed(&seed(), Some(b"")).unwrap();
        assert_eq!(blob[1], KDF_NONE);
    }

    #[test]
    fn keyfile_with_passphrase_round_trips_and_rejects_wrong_passphrase() {
        let blob = seal_seed(&seed(), Some(b"correct horse")).unwrap();
        assert_eq!(blob.len(), 102);
        assert_eq!(blob[1], KDF_ARGON2ID);
        assert_eq!(&blob[18..22], &19_456u32.to_be_bytes());
        assert_eq!(&blob[22..26], &2u32.to_be_bytes());
        assert_eq!(&blob[26..30], &1u32.to_be_bytes());
        assert!(keyfile_needs_passphrase(&blob).unwrap());
        let opened = open_seed(&blob, Some(b"correct horse")).unwrap();
        assert_eq!(opened.as_bytes(), seed().as_bytes());
        assert_eq!(
            open_seed(&blob, Some(b"wrong horse")).unwrap_err(),
            CryptoError::WrongPassphrase
        );
        assert_eq!(
            open_seed(&blob, None).unwrap_err(),
            CryptoError::PassphraseRequired
        );
        assert_eq!(
            open_seed(&blob, Some(b"")).unwrap_err(),
            CryptoError::PassphraseRequired
        );
    }

    #[test]
    fn keyfile_rejects_malformed_files() {
        let blob = seal_seed(&seed(), None).unwrap();
        assert_eq!(open_seed(&[], None).unwrap_err(), CryptoError::Truncated(0));
        assert_eq!(
            open_seed(&blob[..101], None).unwrap_err(),
            CryptoError::Truncated(101)
        );
        let mut longer = blob.clone();
        longer.push(0);
        assert!(matches!(
            open_seed(&longer, None).unwrap_err(),
            CryptoError::InvalidLength { .. }
        ));
        let mut v = blob.clone();
        v[0] = 2;
        assert_eq!(
            open_seed(&v, None).unwrap_err(),
            CryptoError::KeyfileUnknownVersion(2)
        );
        assert_eq!(
            keyfile_needs_passphrase(&v).unwrap_err(),
            CryptoError::KeyfileUnknownVersion(2)
        );
        let mut k = blob.clone();
        k[1] = 7;
        assert_eq!(
            open_seed(&k, None).unwrap_err(),
            CryptoError::KeyfileUnknownKdf(7)
        );
        let mut params = blob.clone();
        params[21] = 1;
        assert!(matches!(
            open_seed(&params, None).unwrap_err(),
            CryptoError::KeyfileBadParams { .. }
        ));
        // Every other byte (salt, nonce, ciphertext, tag) is authenticated.
        for i in 2..blob.len() {
            if (18..30).contains(&i) {
                continue;
            }
            let mut t = blob.clone();
            t[i] ^= 0x10;
            assert_eq!(
                open_seed(&t, None).unwrap_err(),
                CryptoError::KeyfileCorrupt,
                "byte {i}"
            );
        }
    }

    #[test]
    fn keyfile_rejects_unsupported_argon2_params_without_running_them() {
        let mut blob = seal_seed_with(&seed(), Some(b"pw"), &[1; 16], &[2; 24]).unwrap();
        // p = 2 is not reproducible with libsodium.
        blob[29] = 2;
        assert!(matches!(
            open_seed(&blob, Some(b"pw")).unwrap_err(),
            CryptoError::KeyfileBadParams { p: 2, .. }
        ));
        // 4 GiB of memory is refused.
        blob[29] = 1;
        blob[18..22].copy_from_slice(&(1u32 << 22).to_be_bytes());
        assert!(matches!(
            keyfile_needs_passphrase(&blob).unwrap_err(),
            CryptoError::KeyfileBadParams { .. }
        ));
    }
}
