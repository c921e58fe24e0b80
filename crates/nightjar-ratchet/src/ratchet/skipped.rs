//! Skipped message keys: the keys of messages that have not arrived yet
//! (out of order, or lost), kept so that they can still be read, within
//! bounds.
//!
//! Each entry is `(header key, N) → message key`, as Signal's DR-HE keeps
//! them. At most [`MAX_SKIP`] keys are skipped in one chain by one message,
//! and at most [`MAX_SKIPPED_KEYS`] are kept in all: beyond that the oldest
//! are evicted (those messages can then no longer be read). A key leaves the
//! store when its message is read.

use std::collections::VecDeque;

use nightjar_crypto::hash::ct_eq;
use nightjar_crypto::kdf::{HeaderKey, MessageKey};

/// Most message keys one message may make a chain skip (in the chain it
/// ends and, again, in the chain it starts).
pub const MAX_SKIP: u32 = 1_000;

/// Most skipped message keys a session keeps; the oldest go first.
pub const MAX_SKIPPED_KEYS: usize = 2_000;

/// One skipped message key.
#[derive(Clone)]
pub(crate) struct SkippedKey {
    /// The header key of its chain.
    pub(crate) header_key: HeaderKey,
    /// Its message number in that chain.
    pub(crate) n: u32,
    /// The message key.
    pub(crate) message_key: MessageKey,
}

/// The skipped keys, oldest first.
#[derive(Clone, Default)]
pub(crate) struct SkippedKeys {
    entries: VecDeque<SkippedKey>,
}

impl SkippedKeys {
    /// Adds a key, evicting the oldest beyond [`MAX_SKIPPED_KEYS`].
    pub(crate) fn push(&mut self, key: SkippedKey) {
        self.entries.push_back(key);
        while self.entries.len() > MAX_SKIPPED_KEYS {
            self.entries.pop_front();
        }
    }

    /// Removes and returns the key of message `n` of the chain under
    /// `header_key`, if it is held.
    pub(crate) fn take(&mut self, header_key: &HeaderKey, n: u32) -> Option<MessageKey> {
        let at = self
            .entries
            .iter()
            .position(|e| e.n == n && ct_eq(e.header_key.as_bytes(), header_key.as_bytes()))?;
        self.entries.remove(at).map(|e| e.message_key.clone())
    }

    /// The distinct header keys of the stored entries, oldest first.
    pub(crate) fn header_keys(&self) -> Vec<HeaderKey> {
        let mut keys: Vec<HeaderKey> = Vec::new();
        for e in &self.entries {
            if !keys
                .iter()
                .any(|k| ct_eq(k.as_bytes(), e.header_key.as_bytes()))
            {
                keys.push(e.header_key.clone());
            }
        }
        keys
    }

    /// How many keys are stored.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entries, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &SkippedKey> {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key(hk: u8, n: u32) -> SkippedKey {
        SkippedKey {
            header_key: HeaderKey::from_bytes([hk; 32]),
            n,
            message_key: MessageKey::from_bytes([n as u8; 32]),
        }
    }

    #[test]
    fn keys_are_taken_once_by_header_key_and_number() {
        let mut s = SkippedKeys::default();
        s.push(key(1, 5));
        s.push(key(2, 5));
        assert_eq!(s.header_keys().len(), 2);
        assert!(s.take(&HeaderKey::from_bytes([1; 32]), 6).is_none());
        let mk = s.take(&HeaderKey::from_bytes([1; 32]), 5).unwrap();
        assert_eq!(mk.as_bytes(), &[5; 32]);
        assert!(s.take(&HeaderKey::from_bytes([1; 32]), 5).is_none());
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn the_oldest_keys_are_evicted_beyond_the_limit() {
        let mut s = SkippedKeys::default();
        for n in 0..(MAX_SKIPPED_KEYS as u32 + 10) {
            s.push(key(1, n));
        }
        assert_eq!(s.len(), MAX_SKIPPED_KEYS);
        let hk = HeaderKey::from_bytes([1; 32]);
        for n in 0..10 {
            assert!(s.take(&hk, n).is_none(), "key {n} should be evicted");
        }
        assert!(s.take(&hk, 10).is_some());
        assert_eq!(s.header_keys().len(), 1);
    }
}
