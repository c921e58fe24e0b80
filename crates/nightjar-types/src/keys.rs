//! Identifiers: 32-byte keys and hashes as newtypes, and the keys of a
//! mailbox and of a message.
//!
//! Not for: checking that a key is a curve point or that a hash matches its
//! data (`nightjar-crypto` and the node do that).

use std::fmt;

/// How many leading bytes a key's `Debug` shows (as hex).
const DEBUG_PREFIX: usize = 3;

/// Writes `Name(3fa2c1…)`: the type name and a short hex prefix, never the
/// whole value.
fn debug_prefix(f: &mut fmt::Formatter<'_>, name: &str, bytes: &[u8; 32]) -> fmt::Result {
    write!(f, "{name}(")?;
    for b in bytes.iter().take(DEBUG_PREFIX) {
        write!(f, "{b:02x}")?;
    }
    f.write_str("…)")
}

/// Defines a newtype over `[u8; 32]` with the shared constructors,
/// accessors, conversions and a prefix-only `Debug`.
macro_rules! bytes32 {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; 32]);

        impl $name {
            /// Wraps the 32 bytes as they are (no check).
            #[must_use]
            pub const fn new(bytes: [u8; 32]) -> $name {
                $name(bytes)
            }

            /// Wraps the 32 bytes as they are (no check); the same as
            #[doc = concat!("[`", stringify!($name), "::new`].")]
            #[must_use]
            pub const fn from_bytes(bytes: [u8; 32]) -> $name {
                $name(bytes)
            }

            /// The bytes.
            #[must_use]
            pub const fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// A copy of the bytes.
            #[must_use]
            pub const fn to_bytes(&self) -> [u8; 32] {
                self.0
            }
        }

        impl From<[u8; 32]> for $name {
            fn from(bytes: [u8; 32]) -> $name {
                $name(bytes)
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        /// Shows only the first bytes, in hex: the whole value must not end
        /// up in logs by accident.
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                debug_prefix(f, stringify!($name), &self.0)
            }
        }
    };
}

bytes32! {
    /// An account's Ed25519 public key, as the 32 bytes carried on the wire
    /// and kept by the store. Not validated: the bytes need not be a curve
    /// point (the node decodes them with `nightjar-crypto` and refuses
    /// accounts that do not decode).
    AccountKey
}

bytes32! {
    /// A message's 32-byte hash (`nightjar_crypto::hash::message_hash` of
    /// its account, namespace and data). Together with its mailbox it
    /// identifies the message ([`MessageKey`]).
    MessageHash
}

bytes32! {
    /// A service node's Ed25519 identity key, as the 32 bytes carried on the
    /// wire (receipts, swarm members, `info`). Not validated.
    NodeKey
}

/// Who claims a record of a claimable namespace (`docs/PROTOCOL.md` §5.13):
/// 16 random bytes the claiming client draws once per record it wants, and
/// sends again when it retries, so that swarm members recognise the retry.
/// Not secret and not validated; its `Debug` prints a short prefix only.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Claimant([u8; 16]);

impl Claimant {
    /// Wraps the 16 bytes as they are.
    #[must_use]
    pub const fn new(bytes: [u8; 16]) -> Claimant {
        Claimant(bytes)
    }

    /// The bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// A copy of the bytes.
    #[must_use]
    pub const fn to_bytes(&self) -> [u8; 16] {
        self.0
    }
}

impl From<[u8; 16]> for Claimant {
    fn from(bytes: [u8; 16]) -> Claimant {
        Claimant(bytes)
    }
}

/// Shows only the first bytes, in hex.
impl fmt::Debug for Claimant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Claimant(")?;
        for b in self.0.iter().take(DEBUG_PREFIX) {
            write!(f, "{b:02x}")?;
        }
        f.write_str("…)")
    }
}

/// One mailbox: an account's messages in one namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailboxKey {
    /// The account.
    pub account: AccountKey,
    /// The namespace within the account (0 for direct messages).
    pub namespace: u16,
}

impl MailboxKey {
    /// The key of the message with this hash in this mailbox.
    #[must_use]
    pub const fn message(self, hash: MessageHash) -> MessageKey {
        MessageKey {
            account: self.account,
            namespace: self.namespace,
            hash,
        }
    }
}

/// A message's identity in a swarm: its mailbox (account and namespace) and
/// its hash. Ordered by account, namespace, then hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageKey {
    /// The account.
    pub account: AccountKey,
    /// The namespace.
    pub namespace: u16,
    /// The message hash.
    pub hash: MessageHash,
}

impl MessageKey {
    /// The mailbox the message is in.
    #[must_use]
    pub const fn mailbox(&self) -> MailboxKey {
        MailboxKey {
            account: self.account,
            namespace: self.namespace,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_a_short_prefix_only() {
        let mut bytes = [0xee; 32];
        bytes[..3].copy_from_slice(&[0x3f, 0xa2, 0xc1]);
        assert_eq!(
            format!("{:?}", AccountKey::new(bytes)),
            "AccountKey(3fa2c1…)"
        );
        assert_eq!(
            format!("{:?}", MessageHash::from([0; 32])),
            "MessageHash(000000…)"
        );
        assert_eq!(
            format!("{:?}", NodeKey::from_bytes([255; 32])),
            "NodeKey(ffffff…)"
        );
        assert_eq!(
            format!("{:?}", Claimant::new([0xab; 16])),
            "Claimant(ababab…)"
        );
        let key = MailboxKey {
            account: AccountKey::new(bytes),
            namespace: 7,
        }
        .message(MessageHash::new([1; 32]));
        let shown = format!("{key:?}");
        assert!(!shown.contains("ee"), "{shown}");
        assert_eq!(
            shown,
            "MessageKey { account: AccountKey(3fa2c1…), namespace: 7, hash: MessageHash(010101…) }"
        );
    }

    #[test]
    fn conversions_keep_the_bytes() {
        let bytes: [u8; 32] = std::array::from_fn(|i| i as u8);
        let key = AccountKey::from(bytes);
        assert_eq!(key.as_bytes(), &bytes);
        assert_eq!(key.to_bytes(), bytes);
        assert_eq!(key.as_ref(), &bytes[..]);
        assert_eq!(AccountKey::new(bytes), AccountKey::from_bytes(bytes));
    }

    #[test]
    fn message_keys_order_by_account_namespace_then_hash() {
        let key = |a: u8, n: u16, h: u8| MessageKey {
            account: AccountKey::new([a; 32]),
            namespace: n,
            hash: MessageHash::new([h; 32]),
        };
        let mut keys = vec![key(2, 0, 0), key(1, 1, 0), key(1, 0, 9), key(1, 0, 1)];
        keys.sort();
        assert_eq!(
            keys,
            vec![key(1, 0, 1), key(1, 0, 9), key(1, 1, 0), key(2, 0, 0)]
        );
        assert_eq!(
            key(1, 1, 0).mailbox().message(MessageHash::new([0; 32])),
            key(1, 1, 0)
        );
    }
}
