//! Conversations: the history grouped by the other party, as a chat list
//! shows it (last message, unread count) and as a chat view reads it.
//!
//! A message is "unread" while it has not been shown (the flag `inbox`
//! uses): showing a conversation marks its messages shown, so a message read
//! in the TUI is not printed again by `nightjar inbox`, and the other way
//! round.
//!
//! Every record is encrypted at rest, the peer included, so these read and
//! decrypt the whole history; nothing about a peer is stored in the clear
//! to index it.

use rusqlite::params;

use crate::profile::db_err;
use crate::{ClientError, HistoryRecord, Profile};

/// One conversation as a chat list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationSummary {
    /// The other party's Account ID.
    pub peer: String,
    /// The latest message, either way.
    pub last: HistoryRecord,
    /// Messages that came in (or from this account's other devices) and
    /// have not been shown.
    pub unread: usize,
}

impl Profile {
    /// Every conversation, the one with the latest message first.
    pub fn conversations(&self) -> Result<Vec<ConversationSummary>, ClientError> {
        let mut out: Vec<ConversationSummary> = Vec::new();
        for (record, shown) in self.records_shown("record IS NOT NULL")? {
            let unread = usize::from(!shown);
            match out.iter_mut().find(|c| c.peer == record.peer) {
                Some(c) => {
                    c.unread += unread;
                    c.last = record;
                }
                None => out.push(ConversationSummary {
                    peer: record.peer.clone(),
                    last: record,
                    unread,
                }),
            }
        }
        // The history is in arrival order; a chat list sorts by the time
        // the last message was written (ties keep arrival order).
        out.sort_by_key(|c| std::cmp::Reverse(c.last.sent_at_ms));
        Ok(out)
    }

    /// The last `limit` messages with `peer` (an Account ID as text), oldest
    /// first, each with whether it has been shown.
    pub fn conversation(
        &self,
        peer: &str,
        limit: usize,
    ) -> Result<Vec<(HistoryRecord, bool)>, ClientError> {
        let mut messages: Vec<(HistoryRecord, bool)> = self
            .records_shown("record IS NOT NULL")?
            .into_iter()
            .filter(|(r, _)| r.peer == peer)
            .collect();
        let skip = messages.len().saturating_sub(limit);
        messages.drain(..skip);
        Ok(messages)
    }

    /// Mark every message of the conversation with `peer` shown; returns the
    /// IDs that were not shown before (start their read timers with
    /// [`Profile::start_read_timers`]).
    pub fn mark_conversation_shown(&mut self, peer: &str) -> Result<Vec<String>, ClientError> {
        let ids: Vec<String> = self
            .records_shown("shown = 0 AND record IS NOT NULL")?
            .into_iter()
            .filter(|(r, _)| r.peer == peer)
            .map(|(r, _)| r.message_id)
            .collect();
        let tx = self.db.transaction().map_err(db_err("begin"))?;
        for id in &ids {
            let Ok(hash) = hex::decode(id) else { continue };
            tx.execute(
                "UPDATE messages SET shown = 1 WHERE hash = ?1",
                params![hash],
            )
            .map_err(db_err("mark shown"))?;
        }
        tx.commit().map_err(db_err("commit"))?;
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use nightjar_crypto::identity::Identity;
    use nightjar_types::{MessageHash, NodeKey};

    use super::*;
    use crate::Direction;

    fn record(n: u8, peer: &str, direction: Direction, at: u64) -> (MessageHash, HistoryRecord) {
        let hash = MessageHash::new([n; 32]);
        (
            hash,
            HistoryRecord {
                message_id: hex::encode([n; 32]),
                direction,
                peer: peer.to_owned(),
                text: format!("m{n}"),
                sent_at_ms: at,
                version: 2,
                timer: None,
                expires_at_ms: None,
            },
        )
    }

    #[test]
    fn conversations_group_by_peer_with_unread_counts_latest_first() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = Profile::create(dir.path(), Identity::generate().unwrap(), None).unwrap();
        let (bob, carol) = ("nj1bob", "nj1carol");
        let incoming = [
            record(1, bob, Direction::In, 10),
            record(2, carol, Direction::In, 20),
            record(3, bob, Direction::In, 30),
        ];
        p.record_incoming(&NodeKey::new([9; 32]), 0, 3, &incoming, &[])
            .unwrap();
        let (h, r) = record(4, carol, Direction::Out, 40);
        p.record_sent(&h, &r).unwrap();

        let list = p.conversations().unwrap();
        let summary: Vec<(&str, &str, usize)> = list
            .iter()
            .map(|c| (c.peer.as_str(), c.last.text.as_str(), c.unread))
            .collect();
        assert_eq!(summary, [(carol, "m4", 1), (bob, "m3", 2)]);

        let chat = p.conversation(bob, 1).unwrap();
        assert_eq!(chat.len(), 1);
        assert_eq!((chat[0].0.text.as_str(), chat[0].1), ("m3", false));

        let marked = p.mark_conversation_shown(bob).unwrap();
        assert_eq!(marked.len(), 2);
        assert!(p.mark_conversation_shown(bob).unwrap().is_empty());
        let unread: Vec<usize> = p
            .conversations()
            .unwrap()
            .iter()
            .map(|c| c.unread)
            .collect();
        assert_eq!(unread, [1, 0]);
        // `inbox` no longer shows what the chat view showed.
        assert_eq!(p.unshown().unwrap().len(), 1);
    }
}
