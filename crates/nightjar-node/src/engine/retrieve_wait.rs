//! Retrieves waiting for a message: parked per mailbox when a read found
//! nothing, woken (read again) when a store or an anti-entropy pull lands a
//! message in that mailbox, answered at their deadline, dropped when the
//! client goes away.
//!
//! A read in flight when a store lands is marked, so its empty answer reads
//! again instead of parking (the store may have landed after the read).
//! Not here: reading (the core emits the store command) or timers.

use std::collections::{HashMap, HashSet};

use nightjar_types::MailboxKey;

use super::effect::RequestId;

/// One waiting retrieve.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Waiter {
    /// Its mailbox.
    pub mailbox: MailboxKey,
    /// Its cursor.
    pub after_seq: u64,
    /// Until when it may wait.
    pub deadline_ms: u64,
}

/// The parked retrieves and the reads in flight.
#[derive(Debug, Default)]
pub(crate) struct RetrieveWaits {
    parked: HashMap<MailboxKey, HashSet<RequestId>>,
    waiters: HashMap<RequestId, Waiter>,
    reading: HashMap<MailboxKey, HashSet<RequestId>>,
    woken_while_reading: HashSet<RequestId>,
}

impl RetrieveWaits {
    /// A read for `id` on `mailbox` is in flight.
    pub fn reading(&mut self, id: RequestId, mailbox: MailboxKey) {
        self.reading.entry(mailbox).or_default().insert(id);
    }

    /// The read for `id` answered; true if a store landed meanwhile.
    pub fn read_done(&mut self, id: RequestId, mailbox: MailboxKey) -> bool {
        if let Some(set) = self.reading.get_mut(&mailbox) {
            set.remove(&id);
            if set.is_empty() {
                self.reading.remove(&mailbox);
            }
        }
        self.woken_while_reading.remove(&id)
    }

    /// Park `id` until a store to its mailbox or its deadline.
    pub fn park(&mut self, id: RequestId, waiter: Waiter) {
        self.parked.entry(waiter.mailbox).or_default().insert(id);
        self.waiters.insert(id, waiter);
    }

    /// Unpark `id` (woken, at its deadline, or gone).
    pub fn unpark(&mut self, id: RequestId) -> Option<Waiter> {
        let waiter = self.waiters.remove(&id)?;
        if let Some(set) = self.parked.get_mut(&waiter.mailbox) {
            set.remove(&id);
            if set.is_empty() {
                self.parked.remove(&waiter.mailbox);
            }
        }
        Some(waiter)
    }

    /// Forget `id` entirely (its client went away): parked, or its read
    /// on `mailbox` in flight.
    pub fn forget(&mut self, id: RequestId, mailbox: MailboxKey) -> Option<Waiter> {
        self.read_done(id, mailbox);
        self.unpark(id)
    }

    /// A message landed in `mailbox`: unpark its waiters (returned, to read
    /// again) and mark its reads in flight.
    pub fn wake(&mut self, mailbox: &MailboxKey) -> Vec<(RequestId, Waiter)> {
        if let Some(set) = self.reading.get(mailbox) {
            self.woken_while_reading.extend(set.iter().copied());
        }
        let Some(ids) = self.parked.remove(mailbox) else {
            return Vec::new();
        };
        ids.into_iter()
            .filter_map(|id| self.waiters.remove(&id).map(|w| (id, w)))
            .collect()
    }

    /// How many retrieves are parked.
    pub fn parked(&self) -> usize {
        self.waiters.len()
    }
}
