//! Answers to the node-only sync requests: `sync_digest` (bucket digests of
//! what this node holds for its own swarm over a range), `sync_list` (the
//! entries themselves, one page of at most `MAX_SYNC_ENTRIES` per request,
//! with where to continue) and `sync_fetch` (the named messages).

use nightjar_store::{PositionedEntry, StoreCommand, StoreError, StoreReply};
use nightjar_types::{MessageKey, SyncCursor};
use nightjar_wire::{MAX_SYNC_ENTRIES, Response, ResponseBody};

use super::digest_cache::Waiter;
use super::{NodeCore, Op, RequestId};
use crate::core;
use crate::sync::{self, Arc64};

/// Which sync request a store read answers.
#[derive(Debug)]
pub(crate) enum Serve {
    /// `sync_list`: one page.
    List {
        /// Range start.
        start: u64,
        /// Range end.
        end: u64,
        /// The page starts strictly after this entry.
        after: Option<SyncCursor>,
    },
    /// `sync_fetch`.
    Fetch(Vec<MessageKey>),
}

impl NodeCore {
    /// Answer `sync_digest` over `[start, end)` in `buckets` buckets: from
    /// the digest cache over this node's own arc, from a paged listing
    /// otherwise (see [`super::digest_cache`]).
    pub(super) fn serve_digest(&mut self, now_ms: u64, id: RequestId, arc: Arc64, buckets: u32) {
        let owner = self.own_arc().map(|(view, swarm, _)| (view, swarm));
        self.want_digests(now_ms, Waiter::Serve(id), owner, arc, buckets);
    }

    pub(super) fn serve(&mut self, now_ms: u64, id: RequestId, what: Serve) {
        let command = match &what {
            // One page: the listing, the filter below and the answer are
            // bounded by the page, whatever the range holds.
            Serve::List { start, end, after } => StoreCommand::ListRange {
                start: *start,
                end: *end,
                now_ms,
                after: *after,
                limit: MAX_SYNC_ENTRIES,
            },
            Serve::Fetch(keys) => StoreCommand::Fetch {
                keys: keys.clone(),
                now_ms,
            },
        };
        self.store(Op::Serve { id, what }, command);
    }

    /// The entries this node holds for its own swarm (all without a map).
    pub(super) fn own_entries(&self, entries: Vec<PositionedEntry>) -> Vec<PositionedEntry> {
        match self
            .logic
            .map()
            .and_then(|m| m.swarm_of_node(&self.me).map(|s| (m, s)))
        {
            Some((map, swarm)) => sync::owned(map, swarm, entries),
            None => entries,
        }
    }

    pub(super) fn serve_done(
        &mut self,
        now_ms: u64,
        id: RequestId,
        what: Serve,
        reply: StoreReply,
    ) {
        let response = match (what, reply) {
            (Serve::List { .. }, StoreReply::Entries(Ok(entries))) => {
                // A full page may have more after it: continue after its
                // last entry (shown or not: entries of other swarms are
                // left out, so a page may show fewer, even none).
                let next = (entries.len() >= MAX_SYNC_ENTRIES)
                    .then(|| entries.last().map(PositionedEntry::cursor))
                    .flatten();
                let entries = self.own_entries(entries);
                let shown = entries.get(..MAX_SYNC_ENTRIES).unwrap_or(&entries);
                Response {
                    node_time_ms: now_ms,
                    body: ResponseBody::Entries {
                        entries: shown.iter().map(|e| e.entry).collect(),
                        truncated: next.is_some(),
                        next,
                    },
                }
            }
            (Serve::Fetch(_), StoreReply::Full(Ok(messages))) => Response {
                node_time_ms: now_ms,
                // The wire does not carry the hash: the receiver recomputes it.
                body: ResponseBody::Full(messages.into_iter().map(|(_, m)| m).collect()),
            },
            (_, StoreReply::Entries(Err(e)) | StoreReply::Full(Err(e))) => {
                core::store_error_response(now_ms, &e)
            }
            _ => core::store_error_response(now_ms, &StoreError::WriterGone),
        };
        self.reply(now_ms, id, response);
    }
}
