//! A bounded cache of decoded account keys (Ed25519 point decompression is
//! a measurable part of a store's CPU).

use std::collections::HashMap;

use nightjar_crypto::identity::PublicKey;
use nightjar_types::AccountKey;

/// How many decoded account keys [`AccountKeys`] keeps.
pub(crate) const ACCOUNT_KEY_CACHE: usize = 4096;

/// Account keys this node decoded recently, by their bytes.
///
/// Every store, replicate, retrieve and delete names its account by its
/// Ed25519 key bytes, and checking them (a point decompression, 15–20 µs
/// here) was about 5 % of a store's CPU (BENCHMARKS.md, acknowledged
/// stores); the prime-order subgroup check added since (`docs/PROTOCOL.md`
/// §2) adds a scalar multiplication, 25–40 µs more per key not cached.
/// Only valid keys are kept; when full, the cache starts over, so
/// it never holds more than [`ACCOUNT_KEY_CACHE`] keys (about 1 MB) and a
/// sender cycling through many keys costs no more than without it.
pub(crate) struct AccountKeys {
    pub(crate) keys: HashMap<AccountKey, PublicKey>,
    pub(crate) capacity: usize,
}

impl Default for AccountKeys {
    fn default() -> AccountKeys {
        AccountKeys {
            keys: HashMap::new(),
            capacity: ACCOUNT_KEY_CACHE,
        }
    }
}

// Prints only the number of keys: which accounts a node served is not for logs.
impl std::fmt::Debug for AccountKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountKeys")
            .field("len", &self.keys.len())
            .finish()
    }
}

impl AccountKeys {
    /// The key `account` encodes, or `None` if it is not a valid Ed25519 key.
    #[cfg(test)]
    pub(crate) fn decode(&mut self, account: &AccountKey) -> Option<PublicKey> {
        if let Some(key) = self.get(account) {
            return Some(key);
        }
        let key = PublicKey::from_bytes(account.as_bytes()).ok()?;
        self.insert(*account, key);
        Some(key)
    }

    /// The cached key of `account`, if any.
    pub(crate) fn get(&self, account: &AccountKey) -> Option<PublicKey> {
        self.keys.get(account).copied()
    }

    /// Remember that `account` decodes to `key` (starting over when full).
    pub(crate) fn insert(&mut self, account: AccountKey, key: PublicKey) {
        if self.keys.len() >= self.capacity {
            self.keys.clear();
        }
        self.keys.insert(account, key);
    }
}
