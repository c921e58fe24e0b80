//! Writing to any account's swarm and deleting from this account's own:
//! the store of an envelope into a device mailbox, and a signed delete, over
//! [`Client::ask_swarm`]'s member-after-member path.

use nightjar_crypto::hash::message_hash;
use nightjar_crypto::identity::AccountId;
use nightjar_types::{AccountKey, MessageHash};
use nightjar_wire::{Request, ResponseBody};

use super::{Asked, Client};
use crate::{ClientError, failover, logic};

impl Client {
    /// Stores `data` in `account`'s mailbox `namespace` for `ttl_ms`;
    /// returns the hash once a write quorum holds it.
    pub(crate) async fn store_in(
        &mut self,
        account: &AccountId,
        namespace: u16,
        data: Vec<u8>,
        ttl_ms: u64,
    ) -> Result<MessageHash, ClientError> {
        let hash = MessageHash::new(message_hash(account.public_key(), namespace, &data));
        let request = Request::Store(nightjar_wire::StoreRequest {
            account: AccountKey::new(account.public_key().to_bytes()),
            namespace,
            ttl_ms,
            data,
        });
        self.ask_swarm(account, &request, |resp| {
            Ok(match failover::store_answer(resp, &hash)? {
                failover::StoreAnswer::Stored { .. } => Asked::Done(hash),
                failover::StoreAnswer::WrongSwarm(info) => Asked::WrongSwarm(info),
            })
        })
        .await
    }

    /// Deletes messages from this account's own mailbox `namespace` (a
    /// signed request: the network's time is learnt first).
    pub(crate) async fn delete_own(
        &mut self,
        namespace: u16,
        hashes: Vec<MessageHash>,
    ) -> Result<(), ClientError> {
        if hashes.is_empty() {
            return Ok(());
        }
        // What this device read of them may still be deferred; once the
        // swarm's copies are gone, a power cut could not bring them back.
        self.profile.sync()?;
        let me = self.profile.account_id();
        if let Some(node) = self.members_for(&me)?.first().cloned() {
            self.sync_clock(&node).await?;
        }
        let request =
            logic::delete_request(self.profile.identity(), namespace, hashes, self.now_ms());
        self.ask_swarm(&me, &request, |resp| match resp.body {
            ResponseBody::Deleted { .. } => Ok(Asked::Done(())),
            ResponseBody::WrongSwarm(info) => Ok(Asked::WrongSwarm(info)),
            ResponseBody::Error { code, message } => Err(ClientError::Refused { code, message }),
            other => Err(ClientError::Protocol(format!(
                "unexpected answer to delete: {other:?}"
            ))),
        })
        .await
    }
}
