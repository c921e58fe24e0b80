//! Header encryption (Signal's DR-HE): a header is encrypted under its
//! chain's header key with a fresh random nonce, the session's associated
//! data as AEAD associated data; a receiver finds the chain of a message by
//! trying its header keys.

use nightjar_crypto::kdf::{HeaderKey, NONCE_LEN};

use crate::error::RatchetError;
use crate::message::{HEADER_LEN, Header, RatchetMessage};

/// `AEAD(HK, nonce, header, aad = AD)`.
pub(crate) fn seal(
    key: &HeaderKey,
    nonce: &[u8; NONCE_LEN],
    ad: &[u8],
    header: &Header,
) -> Result<Vec<u8>, RatchetError> {
    key.seal(nonce, ad, &header.encode())
        .map_err(|_| RatchetError::malformed("header", "cannot be encrypted"))
}

/// Tries `key` on the message's header: `None` if it does not open (another
/// chain's key), the decoded header if it does. A header that opens but does
/// not decode is an error: it was authenticated, so its sender is broken.
pub(crate) fn try_open(
    key: &HeaderKey,
    ad: &[u8],
    message: &RatchetMessage,
) -> Option<Result<Header, RatchetError>> {
    let plain = key
        .open(&message.header_nonce, ad, &message.encrypted_header)
        .ok()?;
    if plain.len() != HEADER_LEN {
        return Some(Err(RatchetError::malformed("header", "wrong length")));
    }
    Some(Header::decode(&plain))
}
