//! `keyfile`: the key-file decoder (a profile's `identity.key`, a node's
//! `node.key`).

use nightjar_crypto::CryptoError;
use nightjar_crypto::at_rest::{keyfile_needs_passphrase, open_seed};

/// Largest Argon2id work (m_kib × t) the fuzzer runs: a few milliseconds.
const MAX_FUZZ_ARGON2_COST: u64 = 4 * 1024;

/// The Argon2id work a key-file header asks for, read from bytes 18..26
/// (m_kib and t, big-endian), or `None` if the input is too short.
fn argon2_cost(blob: &[u8]) -> Option<u64> {
    let m_kib = u32::from_be_bytes(blob.get(18..22)?.try_into().ok()?);
    let t = u32::from_be_bytes(blob.get(22..26)?.try_into().ok()?);
    Some(u64::from(m_kib) * u64::from(t))
}

/// Fuzzes the key-file decoder of `nightjar_crypto::at_rest`:
/// `open_seed(blob, None)`, `open_seed(blob, Some(b"pass"))` and
/// `keyfile_needs_passphrase(blob)`.
///
/// Checks: none of them panics on any bytes, and they agree with each other:
/// a header that `keyfile_needs_passphrase` rejects is rejected by
/// `open_seed` with the same error; a file that needs a passphrase answers
/// `PassphraseRequired` without one; a file that needs none answers
/// `PassphraseNotExpected` when given one.
///
/// Argon2id is slow by design and the header chooses its cost (up to 256 MiB
/// × 16 passes), so the passphrase variant runs only on inputs shorter than
/// 200 bytes (a key file is 102) whose header asks for a cheap Argon2id
/// (memory × passes ≤ 4 MiB). Header validation itself is exercised on every
/// input by the other two calls.
pub fn keyfile(data: &[u8]) {
    let needs = keyfile_needs_passphrase(data);
    let without = open_seed(data, None);

    match &needs {
        Err(e) => assert_eq!(
            without.as_ref().err(),
            Some(e),
            "open_seed and keyfile_needs_passphrase disagree on a bad header"
        ),
        Ok(true) => assert_eq!(
            without.as_ref().err(),
            Some(&CryptoError::PassphraseRequired),
            "a passphrase file opened (or failed otherwise) without one"
        ),
        Ok(false) => {}
    }

    // Only a valid Argon2id header reaches the KDF; skip the costly ones.
    let cheap = !matches!(needs, Ok(true))
        || argon2_cost(data).is_some_and(|cost| cost <= MAX_FUZZ_ARGON2_COST);
    if data.len() < 200 && cheap {
        let with = open_seed(data, Some(b"pass"));
        match &needs {
            Err(e) => assert_eq!(
                with.as_ref().err(),
                Some(e),
                "open_seed with a passphrase and keyfile_needs_passphrase disagree"
            ),
            Ok(false) => assert_eq!(
                with.as_ref().err(),
                Some(&CryptoError::PassphraseNotExpected),
                "a passphrase-less file accepted a passphrase"
            ),
            Ok(true) => {}
        }
    }
}
