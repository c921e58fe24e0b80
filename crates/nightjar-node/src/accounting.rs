//! Debug accounting for test networks: what one node could learn.
//!
//! With `debug_accounting = true` a node records the IP addresses that
//! connected to it (QUIC connections, and circuits created from them), the
//! accounts named in the requests it handled (directly
//! or as an onion destination), and the first bytes of every onion answer it
//! sent, and serves them as JSON at `/debug/accounting` on its admin address.
//! Tests use it to show that no single node sees both a client's address and
//! the account it reads, and that an answer's bytes differ on every link.
//!
//! This is exactly the knowledge a node must not keep: it is off by default,
//! bounded in size, never logged, and not for nodes that serve real users.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use nightjar_types::AccountKey;
use nightjar_wire::Request;
use serde::Serialize;

/// Most entries of each kind kept (beyond it new ones are dropped).
pub const MAX_ENTRIES: usize = 100_000;

/// How many bytes of each onion answer are recorded.
pub const ANSWER_PREFIX: usize = 16;

/// Connections from one address.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ConnectionCount {
    /// Connections without a node certificate (clients).
    pub clients: u64,
    /// Connections that presented a node certificate.
    pub nodes: u64,
}

/// What one node saw.
#[derive(Debug, Default, Serialize)]
pub struct Accounting {
    /// Remote IP address → connections accepted from it (a circuit created
    /// from it counts as one).
    pub connections: BTreeMap<String, ConnectionCount>,
    /// Hex of every account key named in a request handled here.
    pub accounts: BTreeSet<String>,
    /// Hex of every account whose mailbox was read or deleted from here
    /// (requests only the account's owner can sign).
    pub read_accounts: BTreeSet<String>,
    /// Hex of the first [`ANSWER_PREFIX`] bytes of every onion answer sent.
    pub onion_answers: Vec<String>,
}

impl Accounting {
    /// A connection from `ip` was accepted.
    pub fn saw_connection(&mut self, ip: IpAddr, with_node_certificate: bool) {
        let key = ip.to_string();
        if self.connections.len() >= MAX_ENTRIES && !self.connections.contains_key(&key) {
            return;
        }
        let count = self.connections.entry(key).or_default();
        if with_node_certificate {
            count.nodes += 1;
        } else {
            count.clients += 1;
        }
    }

    /// A request was handled here.
    pub fn saw_request(&mut self, request: &Request) {
        if let Some((account, read)) = account_of(request) {
            self.saw_account(account, read);
        }
    }

    /// A request for `account` was handled here (`read`: a signed retrieve
    /// or a delete).
    pub fn saw_account(&mut self, account: AccountKey, read: bool) {
        if self.accounts.len() < MAX_ENTRIES {
            self.accounts.insert(hex(account.as_bytes()));
        }
        if read && self.read_accounts.len() < MAX_ENTRIES {
            self.read_accounts.insert(hex(account.as_bytes()));
        }
    }

    /// An onion answer was sent.
    pub fn saw_onion_answer(&mut self, blob: &[u8]) {
        if self.onion_answers.len() < MAX_ENTRIES {
            self.onion_answers
                .push(hex(blob.get(..ANSWER_PREFIX).unwrap_or(blob)));
        }
    }

    /// As JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The account a request names, and whether it reads the mailbox as its
/// owner (a signed retrieve or a delete; a retrieve of a published namespace
/// and a claim are anyone's), for the requests accounting records.
pub fn account_of(request: &Request) -> Option<(AccountKey, bool)> {
    match request {
        Request::Store(r) => Some((r.account, false)),
        Request::Retrieve(r) => Some((r.account, !r.is_public())),
        Request::Delete(r) => Some((r.account, true)),
        Request::GetSwarm { account } => Some((*account, false)),
        Request::Claim(c) => Some((c.account, false)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn connections_are_counted_per_address_and_kind() {
        let mut a = Accounting::default();
        a.saw_connection("127.0.0.77".parse().unwrap(), false);
        a.saw_connection("127.0.0.77".parse().unwrap(), false);
        a.saw_connection("127.0.1.2".parse().unwrap(), true);
        assert_eq!(a.connections["127.0.0.77"].clients, 2);
        assert_eq!(a.connections["127.0.1.2"].nodes, 1);
        let json: serde_json::Value = serde_json::from_str(&a.to_json()).unwrap();
        assert_eq!(json["connections"]["127.0.0.77"]["clients"], 2);
    }

    #[test]
    fn answers_are_recorded_by_prefix() {
        let mut a = Accounting::default();
        a.saw_onion_answer(&[0xab; 40]);
        a.saw_onion_answer(&[1, 2]);
        assert_eq!(a.onion_answers, vec!["ab".repeat(16), "0102".to_string()]);
    }
}
