//! Namespaces: the `u16` that splits an account's messages into mailboxes,
//! the numbers assigned so far, and the ranges with rules of their own
//! (`docs/PROTOCOL.md` §5.12).
//!
//! A namespace stays a plain `u16` everywhere (in [`crate::MailboxKey`], on
//! the wire, in the store): these constants and predicates name the
//! numbers, so that node, client and store agree on one definition.
//!
//! | namespaces | use | store | retrieve |
//! | --- | --- | --- | --- |
//! | [`DIRECT`] (0) | v1 direct messages | unsigned | signed by the account |
//! | [`DEVICE_MAILBOXES`] | a device's mailbox for v2 messages | unsigned | signed by the account |
//! | [`LINK_REQUESTS`] | link requests from a joining device | unsigned | signed by the account |
//! | [`PUBLISHED`] | published records, world-readable | signed record (`sig ‖ body`) | anyone |
//! | [`CLAIMABLE`] | published and claimable (one-time prekeys) | as published | as published, minus records claimed |
//!
//! Not for: checking a published record's signature (`nightjar-crypto`'s
//! `published` module, called by the node) or the claim protocol (the
//! node).

use std::ops::RangeInclusive;

/// v1 direct messages (sealed envelopes, `docs/PROTOCOL.md` §3).
pub const DIRECT: u16 = 0;

/// The namespaces of device mailboxes: the number of each device's mailbox
/// is assigned in the account's device list.
pub const DEVICE_MAILBOXES: RangeInclusive<u16> = 0x1000..=0x1FFF;

/// Link requests from a joining device (unsigned store, signed retrieve).
pub const LINK_REQUESTS: u16 = 0xFE00;

/// Published namespaces: a store must carry the account's signature
/// (`sig (64) ‖ body`), and anyone may read them without a signature.
pub const PUBLISHED: RangeInclusive<u16> = 0xFF00..=0xFFFF;

/// Claimable namespaces: published, and each record can be claimed once
/// (handed out to one claimant, then hidden from retrieves).
pub const CLAIMABLE: RangeInclusive<u16> = 0xFF80..=0xFFFF;

/// The account's device list (published).
pub const DEVICE_LIST: u16 = 0xFF00;

/// Signed prekey bundles, one record per device (published).
pub const PREKEY_BUNDLE: u16 = 0xFF01;

/// Link answers, encrypted to the joining device (published).
pub const LINK_ANSWER: u16 = 0xFF02;

/// One-time prekeys, one record per one-time pair (claimable).
pub const ONE_TIME_PREKEYS: u16 = 0xFF80;

/// Whether records of `namespace` are published: signed by the account on
/// store, readable by anyone.
#[must_use]
pub const fn is_published(namespace: u16) -> bool {
    namespace >= *PUBLISHED.start()
}

/// Whether records of `namespace` can be claimed (it is published too).
#[must_use]
pub const fn is_claimable(namespace: u16) -> bool {
    namespace >= *CLAIMABLE.start()
}

/// Whether `namespace` is a device mailbox.
#[must_use]
pub const fn is_device_mailbox(namespace: u16) -> bool {
    namespace >= *DEVICE_MAILBOXES.start() && namespace <= *DEVICE_MAILBOXES.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates_agree_with_the_ranges_for_every_namespace() {
        for n in 0..=u16::MAX {
            assert_eq!(is_published(n), PUBLISHED.contains(&n), "{n:#06x}");
            assert_eq!(is_claimable(n), CLAIMABLE.contains(&n), "{n:#06x}");
            assert_eq!(
                is_device_mailbox(n),
                DEVICE_MAILBOXES.contains(&n),
                "{n:#06x}"
            );
            assert!(
                !is_claimable(n) || is_published(n),
                "claimable is published"
            );
        }
    }

    #[test]
    fn assigned_namespaces_are_in_their_ranges() {
        for n in [DEVICE_LIST, PREKEY_BUNDLE, LINK_ANSWER] {
            assert!(is_published(n) && !is_claimable(n), "{n:#06x}");
        }
        assert!(is_claimable(ONE_TIME_PREKEYS));
        for n in [DIRECT, LINK_REQUESTS, 0x1000, 0x1fff] {
            assert!(!is_published(n), "{n:#06x}");
        }
        assert!(is_device_mailbox(0x1000) && is_device_mailbox(0x1fff));
        assert!(!is_device_mailbox(0x0fff) && !is_device_mailbox(0x2000));
    }
}
