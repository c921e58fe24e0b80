//! Asking an account's swarm: the member order, retryable failures, one
//! `wrong_swarm` redirect — for any request (store, public retrieve,
//! claim, delete), the shape [`Client::send`] has always used.

use nightjar_crypto::hash::message_hash;
use nightjar_crypto::identity::AccountId;
use nightjar_types::{AccountKey, Claimant, MessageHash, StoredMessage};
use nightjar_wire::{ClaimRequest, ErrorCode, Request, Response, ResponseBody, SwarmInfo};

use super::Client;
use crate::{ClientError, REQUEST_TIMEOUT, failover, logic};

/// What one member's answer meant.
pub(crate) enum Answer<T> {
    /// The result.
    Done(T),
    /// The member is not in the swarm; it names these members.
    WrongSwarm(SwarmInfo),
}

impl Client {
    /// Sends the request `make` builds (from the network's time) to the
    /// members of `account`'s swarm in turn until one answers; `read` turns
    /// a member's answer into the result. Learns the network's time first.
    pub(crate) async fn ask_swarm<T>(
        &mut self,
        account: &AccountId,
        make: &dyn Fn(&Client, u64) -> Request,
        read: &dyn Fn(Response) -> Result<Answer<T>, ClientError>,
    ) -> Result<T, ClientError> {
        let candidates = self.members_for(account)?;
        let mut last_error = None;
        for node in &candidates {
            match self.sync_clock(node).await {
                Ok(()) => break,
                Err(e) => last_error = Some(e),
            }
        }
        if self.clock.offset_ms().is_none() {
            return Err(last_error.unwrap_or(ClientError::Registry(
                nightjar_registry::RegistryError::Empty,
            )));
        }
        let mut members = failover::Failover::new(candidates);
        while let Some(node) = members.next_member() {
            let request = make(self, self.now_ms());
            let answer = self
                .call(&node, &request, REQUEST_TIMEOUT)
                .await
                .and_then(read);
            match answer {
                Ok(Answer::Done(result)) => return Ok(result),
                Ok(Answer::WrongSwarm(info)) => {
                    if let Err(e) = self.refresh_registry().await {
                        tracing::debug!(error = %e, "registry refresh failed");
                    }
                    let known = self.nodes.clone();
                    members.redirect(&info, &known, &|nodes| {
                        self.address_aware_order(logic::preference_order(account, nodes))
                    });
                }
                Err(e) => members.member_failed(e)?,
            }
        }
        Err(members.into_error())
    }

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
        self.ask_swarm(account, &|_, _| request.clone(), &|resp| {
            match failover::store_answer(resp, &hash)? {
                failover::StoreAnswer::Stored { .. } => Ok(Answer::Done(())),
                failover::StoreAnswer::WrongSwarm(info) => Ok(Answer::WrongSwarm(info)),
            }
        })
        .await?;
        Ok(hash)
    }

    /// Every record in `account`'s published `namespace`, as one member
    /// holds them (unchecked: the caller verifies each record's signature).
    pub(crate) async fn published(
        &mut self,
        account: &AccountId,
        namespace: u16,
    ) -> Result<Vec<StoredMessage>, ClientError> {
        let key = AccountKey::new(account.public_key().to_bytes());
        let mut all = Vec::new();
        let mut after = 0;
        // A published namespace holds a handful of records; a few pages at most.
        for _ in 0..16 {
            let request = Request::Retrieve(nightjar_wire::RetrieveRequest::public(
                key, namespace, after, 0,
            ));
            let (messages, cursor, more) = self
                .ask_swarm(account, &|_, _| request.clone(), &|resp| {
                    match failover::retrieve_answer(resp)? {
                        failover::RetrieveAnswer::Messages {
                            messages,
                            cursor,
                            more,
                        } => Ok(Answer::Done((messages, cursor, more))),
                        failover::RetrieveAnswer::WrongSwarm(info) => Ok(Answer::WrongSwarm(info)),
                    }
                })
                .await?;
            all.extend(messages);
            if !more || cursor <= after {
                break;
            }
            after = cursor;
        }
        Ok(all)
    }

    /// Claims the claimable record `hash` of `account`'s `namespace` for
    /// this client (a fresh claimant each time). `None` if another claimant
    /// has it.
    pub(crate) async fn claim(
        &mut self,
        account: &AccountId,
        namespace: u16,
        hash: MessageHash,
        claimant: Claimant,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        let request = Request::Claim(ClaimRequest {
            account: AccountKey::new(account.public_key().to_bytes()),
            namespace,
            hash,
            claimant,
        });
        let result = self
            .ask_swarm(account, &|_, _| request.clone(), &|resp| match resp.body {
                ResponseBody::Claimed { data } => {
                    let got = message_hash(account.public_key(), namespace, &data);
                    if got != *hash.as_bytes() {
                        return Err(ClientError::Protocol(
                            "the claimed record does not match its hash".into(),
                        ));
                    }
                    Ok(Answer::Done(Some(data)))
                }
                ResponseBody::WrongSwarm(info) => Ok(Answer::WrongSwarm(info)),
                ResponseBody::Error {
                    code: ErrorCode::AlreadyClaimed,
                    ..
                } => Ok(Answer::Done(None)),
                ResponseBody::Error { code, message } => {
                    Err(ClientError::Refused { code, message })
                }
                other => Err(ClientError::Protocol(format!(
                    "unexpected answer to claim: {other:?}"
                ))),
            })
            .await?;
        Ok(result)
    }

    /// Deletes messages from this account's own mailbox `namespace`.
    pub(crate) async fn delete_own(
        &mut self,
        namespace: u16,
        hashes: Vec<MessageHash>,
    ) -> Result<(), ClientError> {
        if hashes.is_empty() {
            return Ok(());
        }
        let me = self.profile.account_id();
        self.ask_swarm(
            &me,
            &|client, now| {
                logic::delete_request(client.profile.identity(), namespace, hashes.clone(), now)
            },
            &|resp| match resp.body {
                ResponseBody::Deleted { .. } => Ok(Answer::Done(())),
                ResponseBody::WrongSwarm(info) => Ok(Answer::WrongSwarm(info)),
                ResponseBody::Error { code, message } => {
                    Err(ClientError::Refused { code, message })
                }
                other => Err(ClientError::Protocol(format!(
                    "unexpected answer to delete: {other:?}"
                ))),
            },
        )
        .await
    }
}
