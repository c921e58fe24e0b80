//! Sessions sent from while their saved copy is one sending key ahead
//! (docs/PROTOCOL.md §15.6), so that a long-running client's message leaves
//! without waiting for the disk.
//!
//! A send normally saves the session (durably) before its envelope leaves:
//! a state restored from before a send would use its message keys again.
//! With sessions ahead, after a send the client saves a copy whose next
//! sending key is passed over and keeps the unsaved session in memory; the
//! next send to that device uses the kept session at once (the saved copy is
//! already past the key it uses) and saves a new copy ahead only after its
//! envelope has left, in the transaction that records the sent message. A
//! restart from a copy leaves one message number unused, which the peer
//! skips; a clean close ([`Client::set_sessions_ahead`] off,
//! or dropping the client) saves the kept sessions as they are, so nothing
//! is skipped.
//!
//! A receive from a device continues from the kept session, not from the
//! copy, and the send after it saves before leaving again.
//!
//! Not here: sealing and opening (see `driver::v2`).

use std::collections::HashMap;

use nightjar_crypto::identity::PublicKey;
use nightjar_devices::DeviceId;

use super::Client;
use crate::ClientError;
use crate::messaging::SessionSet;

/// The kept sessions of a client that sends ahead, by peer account and
/// device.
pub(crate) type Kept = HashMap<(PublicKey, DeviceId), SessionSet>;

/// A session a send left, with its copy one key ahead: the copy is saved
/// (durably, with the sent message's record), then the session is kept.
pub(crate) struct Ahead {
    /// The peer account.
    pub account: PublicKey,
    /// Its device.
    pub device: DeviceId,
    /// The session to keep.
    pub kept: SessionSet,
    /// Its copy one key ahead, to save.
    pub copy: SessionSet,
}

impl Client {
    /// Lets this client send from sessions whose saved copy is one key
    /// ahead (see the module doc): for a long-running client (the daemon),
    /// where a message then leaves without waiting for a durable save. Off
    /// (the default) saves every session before its message leaves; turning
    /// it off saves the kept sessions first.
    pub fn set_sessions_ahead(&mut self, on: bool) -> Result<(), ClientError> {
        match (on, self.sessions_ahead.is_some()) {
            (true, false) => self.sessions_ahead = Some(Kept::new()),
            (false, true) => self.save_kept_sessions()?,
            _ => {}
        }
        Ok(())
    }

    /// The kept session with `account`'s `device`, taken out to send with
    /// (its saved copy is past the key the send uses).
    pub(crate) fn take_kept_session(
        &mut self,
        account: &PublicKey,
        device: DeviceId,
    ) -> Option<SessionSet> {
        self.sessions_ahead.as_mut()?.remove(&(*account, device))
    }

    /// A copy of the kept session with `account`'s `device`, to read a
    /// message with; once what the message changed is saved, the caller
    /// [forgets](Client::forget_kept_session) it (the saved state is then
    /// the session's, no longer a copy ahead), and on failure it stays kept.
    pub(crate) fn kept_session(&self, account: &PublicKey, device: DeviceId) -> Option<SessionSet> {
        self.sessions_ahead
            .as_ref()?
            .get(&(*account, device))
            .cloned()
    }

    /// Stops keeping the session with `account`'s `device`.
    pub(crate) fn forget_kept_session(&mut self, account: &PublicKey, device: DeviceId) {
        self.take_kept_session(account, device);
    }

    /// After a message to `account`'s `device` left, sent with `sessions`:
    /// when sending ahead, the copy one key ahead to save, with the session
    /// to keep once it is saved ([`Client::keep_sessions`]). `None` when
    /// not sending ahead or when the copy cannot be made (the next message
    /// starts a new chain): the next send then loads the saved state, which
    /// is past every key used.
    pub(crate) fn ahead_of(
        &self,
        account: &PublicKey,
        device: DeviceId,
        sessions: SessionSet,
    ) -> Result<Option<Ahead>, ClientError> {
        if self.sessions_ahead.is_none() {
            return Ok(None);
        }
        let mut copy = sessions.clone();
        if !copy.skip_send_key()? {
            return Ok(None);
        }
        Ok(Some(Ahead {
            account: *account,
            device,
            kept: sessions,
            copy,
        }))
    }

    /// Keeps the sessions of `ahead`, whose copies have been saved
    /// durably.
    pub(crate) fn keep_sessions(&mut self, ahead: Vec<Ahead>) {
        if let Some(kept) = self.sessions_ahead.as_mut() {
            kept.extend(ahead.into_iter().map(|a| ((a.account, a.device), a.kept)));
        }
    }

    /// Saves every kept session as it is (its next key unused), in one
    /// transaction, and stops keeping them.
    fn save_kept_sessions(&mut self) -> Result<(), ClientError> {
        let Some(kept) = self.sessions_ahead.take() else {
            return Ok(());
        };
        let all: Vec<_> = kept.iter().map(|((a, d), s)| (a, d, s)).collect();
        self.profile.save_many_sessions(&all)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Err(e) = self.save_kept_sessions() {
            tracing::warn!(error = %e, "could not save the sessions kept ahead");
        }
    }
}
