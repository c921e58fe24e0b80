//! The engine: the one task that owns the client. Requests arrive on a
//! channel; between them it holds a waiting retrieve, which a request
//! cancels.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nightjar_client::{Client, ClientError, HistoryRecord};
use nightjar_crypto::identity::AccountId;
use nightjar_rpc::methods::{self as m, Message};
use nightjar_rpc::{
    CLIENT_FAILURE, ErrorObject, INVALID_PARAMS, METHOD_NOT_FOUND, NOT_FOUND, REFUSED,
};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::convert::{self, Names};
use crate::server::to_value;

/// How many messages the bus holds for a slow subscriber.
pub(crate) const BUS_CAPACITY: usize = 1024;
/// How many requests may wait for the engine.
pub(crate) const QUEUE: usize = 256;
/// One waiting retrieve: the node's longest wait.
const WAIT: Duration = Duration::from_millis(nightjar_wire::MAX_WAIT_MS as u64);
/// The longest pause after failed retrieves.
const MAX_PAUSE: Duration = Duration::from_secs(5);
/// A retrieve that returns sooner than this with nothing new is followed
/// by a pause (no mailbox yet, a node that does not hold the wait).
const QUICK: Duration = Duration::from_secs(1);

/// A request for the engine.
pub(crate) struct Call {
    pub(crate) method: String,
    pub(crate) params: Value,
    pub(crate) reply: oneshot::Sender<Result<Value, ErrorObject>>,
}

/// Resolves once the daemon is told to stop.
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the sender is gone: stop as well.
    let _ = stop.wait_for(|s| *s).await;
}

/// Reads a method's parameters: -32602 with serde's reason when they do not fit.
pub(crate) fn params<T: DeserializeOwned>(value: Value) -> Result<T, ErrorObject> {
    serde_json::from_value(value)
        .map_err(|e| ErrorObject::new(INVALID_PARAMS, format!("invalid params: {e}")))
}

/// A client error as an error object: its chain, each cause once.
pub(crate) fn client_error(e: &ClientError) -> ErrorObject {
    use nightjar_client::contacts::ContactError;
    let code = match e {
        ClientError::InvalidMessage(_) => INVALID_PARAMS,
        ClientError::Contact(ContactError::NotFound(_)) => NOT_FOUND,
        ClientError::Contact(
            ContactError::NameTaken { .. } | ContactError::AlreadyContact { .. },
        ) => REFUSED,
        ClientError::Contact(_) => INVALID_PARAMS,
        _ => CLIENT_FAILURE,
    };
    ErrorObject::new(code, chain(e))
}

fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut line = String::new();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !text.is_empty() && !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
        cause = c.source();
    }
    line
}

pub(crate) struct Engine {
    client: Client,
    bus: broadcast::Sender<Message>,
    subscribers: Arc<AtomicUsize>,
    network: String,
    started: Instant,
    me: String,
    /// Unshown message IDs already announced on the bus (or unshown at
    /// start); pruned to the unshown ones after every waiting retrieve.
    announced: Announced,
}

/// The message IDs the engine has announced on the bus (or found unshown at
/// start), so that each message is announced once.
#[derive(Debug, Default)]
pub(crate) struct Announced(HashSet<String>);

impl Announced {
    /// The set holding `ids`.
    pub(crate) fn new(ids: impl IntoIterator<Item = String>) -> Self {
        Self(ids.into_iter().collect())
    }

    /// The records among `records` not announced before; they count as
    /// announced from now on.
    pub(crate) fn fresh<'r>(&mut self, records: &'r [HistoryRecord]) -> Vec<&'r HistoryRecord> {
        records
            .iter()
            .filter(|r| self.0.insert(r.message_id.clone()))
            .collect()
    }

    /// One waiting-retrieve round: `unshown` is every message still unshown.
    /// Returns the ones not announced before ([`Self::fresh`]) and forgets
    /// every ID not among `unshown`: such a message was shown and never
    /// comes back, so the set stays as small as the unread messages.
    pub(crate) fn round<'r>(&mut self, unshown: &'r [HistoryRecord]) -> Vec<&'r HistoryRecord> {
        let fresh = self.fresh(unshown);
        let keep: HashSet<&str> = unshown.iter().map(|r| r.message_id.as_str()).collect();
        self.0.retain(|id| keep.contains(id.as_str()));
        fresh
    }

    /// How many IDs the set holds.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.len()
    }
}

impl Engine {
    pub(crate) fn new(
        client: Client,
        bus: broadcast::Sender<Message>,
        subscribers: Arc<AtomicUsize>,
        network: &nightjar_registry::NetworkFile,
    ) -> Result<Self, ClientError> {
        let me = client.profile().account_id().to_string();
        let announced = Announced::new(
            client
                .profile()
                .unshown()?
                .into_iter()
                .map(|r| r.message_id),
        );
        Ok(Self {
            client,
            bus,
            subscribers,
            network: network.network.clone(),
            started: Instant::now(),
            me,
            announced,
        })
    }

    pub(crate) async fn run(
        mut self,
        mut calls: mpsc::Receiver<Call>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut pause = Duration::from_millis(200);
        loop {
            let began = Instant::now();
            let round = tokio::select! {
                biased;
                _ = stopped(&mut stop) => break,
                call = calls.recv() => {
                    let Some(call) = call else { break };
                    let result = self.handle(&call.method, call.params).await;
                    let _ = call.reply.send(result);
                    continue;
                }
                round = self.client.wait_new(WAIT) => round,
            };
            let idle = match round {
                Ok(records) => {
                    pause = Duration::from_millis(200);
                    // `records` is every message still unshown.
                    let fresh = self.announced.round(&records);
                    let new = self.broadcast(&fresh);
                    (new == 0 && began.elapsed() < QUICK).then_some(QUICK)
                }
                Err(e) => {
                    tracing::warn!(error = %chain(&e), "waiting retrieve failed; retrying");
                    let p = pause;
                    pause = (pause * 2).min(MAX_PAUSE);
                    Some(p)
                }
            };
            if let Some(idle) = idle {
                // A pause that a request or the stop still interrupts.
                tokio::select! {
                    biased;
                    _ = stopped(&mut stop) => break,
                    call = calls.recv() => {
                        let Some(call) = call else { break };
                        let result = self.handle(&call.method, call.params).await;
                        let _ = call.reply.send(result);
                    }
                    _ = tokio::time::sleep(idle) => {}
                }
            }
        }
        // Requests still queued get an error, not silence.
        calls.close();
        while let Ok(call) = calls.try_recv() {
            let _ = call.reply.send(Err(ErrorObject::new(
                CLIENT_FAILURE,
                "the daemon is shutting down",
            )));
        }
        self.client.close().await;
    }

    /// Broadcasts the records not announced before; how many there were.
    fn announce(&mut self, records: &[HistoryRecord]) -> usize {
        let fresh = self.announced.fresh(records);
        self.broadcast(&fresh)
    }

    /// Broadcasts `records` (unread, received); how many there were.
    fn broadcast(&self, records: &[&HistoryRecord]) -> usize {
        if records.is_empty() {
            return 0;
        }
        let names = self.names();
        for r in records {
            // No subscriber is fine.
            let _ = self.bus.send(convert::message(r, &self.me, &names, false));
        }
        records.len()
    }

    fn names(&self) -> Names {
        match self.client.profile().contacts() {
            Ok(contacts) => contacts
                .into_iter()
                .map(|c| (c.account_id.to_string(), c.name))
                .collect(),
            Err(e) => {
                tracing::warn!(error = %chain(&e), "cannot read the contacts");
                Names::new()
            }
        }
    }

    fn resolve(&self, peer: &str) -> Result<AccountId, ErrorObject> {
        self.client
            .profile()
            .resolve_peer(peer.trim())
            .map_err(|e| client_error(&e))
    }

    async fn handle(&mut self, method: &str, raw: Value) -> Result<Value, ErrorObject> {
        match method {
            m::ACCOUNT => {
                let device = self.client.device().map_err(|e| client_error(&e))?;
                to_value(m::AccountResult {
                    account_id: self.me.clone(),
                    device_id: device.id().to_string(),
                })
            }
            m::STATUS => {
                let (guards, paths) = self.client.paths();
                to_value(m::StatusResult {
                    account_id: self.me.clone(),
                    network: self.network.clone(),
                    guards: guards.len(),
                    paths: paths.len(),
                    subscribers: self.subscribers.load(Ordering::Relaxed),
                    uptime_ms: u64::try_from(self.started.elapsed().as_millis())
                        .unwrap_or(u64::MAX),
                })
            }
            m::SEND => self.send(params::<m::SendParams>(raw)?).await,
            m::INBOX => self.inbox().await,
            m::CONVERSATIONS => self.conversations(),
            m::HISTORY => self.history(params::<m::HistoryParams>(raw)?),
            m::MARK_READ => {
                let p = params::<m::MarkReadParams>(raw)?;
                let peer = self.resolve(&p.peer)?.to_string();
                let now = self.client.now_ms();
                let profile = self.client.profile_mut();
                let ids = profile
                    .mark_conversation_shown(&peer)
                    .map_err(|e| client_error(&e))?;
                profile
                    .start_read_timers(&ids, now)
                    .map_err(|e| client_error(&e))?;
                to_value(m::MarkReadResult { marked: ids.len() })
            }
            m::CONTACT_ADD => {
                let p = params::<m::ContactAddParams>(raw)?;
                let account = nightjar_client::contacts::parse_account_id(&p.account_id)
                    .map_err(|e| client_error(&ClientError::Contact(e)))?;
                let c = self
                    .client
                    .profile_mut()
                    .add_contact(&p.name, &account)
                    .map_err(|e| client_error(&e))?;
                to_value(contact(c))
            }
            m::CONTACT_LIST => {
                let list = self
                    .client
                    .profile()
                    .contacts()
                    .map_err(|e| client_error(&e))?;
                to_value(list.into_iter().map(contact).collect::<Vec<_>>())
            }
            m::CONTACT_REMOVE => {
                let p = params::<m::ContactRemoveParams>(raw)?;
                let c = self
                    .client
                    .profile_mut()
                    .remove_contact(p.name.trim())
                    .map_err(|e| client_error(&e))?;
                to_value(contact(c))
            }
            m::DEVICE_LIST => {
                let (devices, current) =
                    self.client.devices().await.map_err(|e| client_error(&e))?;
                to_value(
                    devices
                        .iter()
                        .map(|d| m::DeviceEntry {
                            device_id: d.id.to_string(),
                            this_device: d.id == current,
                            added_at: Some(d.added_at_ms),
                            name: Some(d.name.clone()),
                        })
                        .collect::<Vec<_>>(),
                )
            }
            m::DEVICE_REMOVE => {
                let p = params::<m::DeviceRemoveParams>(raw)?;
                let id: nightjar_devices::DeviceId = p.device_id.trim().parse().map_err(|e| {
                    ErrorObject::new(INVALID_PARAMS, format!("invalid device_id: {e}"))
                })?;
                self.client
                    .remove_device(&id)
                    .await
                    .map_err(|e| client_error(&e))?;
                to_value(m::DeviceRemoveResult {
                    removed: id.to_string(),
                })
            }
            m::TIMER_SET => {
                let p = params::<m::TimerSetParams>(raw)?;
                let peer = self.resolve(&p.peer)?;
                let timer = p.duration_ms.map(|d| nightjar_client::messaging::Timer {
                    after_ms: d,
                    mode: convert::mode(p.after),
                });
                if let Some(t) = &timer {
                    t.check()
                        .map_err(|e| ErrorObject::new(INVALID_PARAMS, chain(&e)))?;
                }
                self.client
                    .profile_mut()
                    .set_timer(peer.public_key(), timer)
                    .map_err(|e| client_error(&e))?;
                to_value(m::TimerSetResult {
                    peer: peer.to_string(),
                    duration_ms: p.duration_ms,
                    after: p.after,
                })
            }
            other => Err(ErrorObject::new(
                METHOD_NOT_FOUND,
                format!("method not found: {other}"),
            )),
        }
    }

    async fn send(&mut self, p: m::SendParams) -> Result<Value, ErrorObject> {
        let to = self.resolve(&p.to)?;
        let ttl = Duration::from_secs(p.ttl.unwrap_or(m::DEFAULT_TTL_SECS));
        let sent = self
            .client
            .send(&to, &p.text, ttl)
            .await
            .map_err(|e| client_error(&e))?;
        let record = HistoryRecord {
            message_id: sent.message_id.clone(),
            direction: nightjar_client::Direction::Out,
            peer: to.to_string(),
            text: p.text,
            sent_at_ms: sent.sent_at_ms,
            version: sent.version,
            timer: None,
            expires_at_ms: sent.expires_at_ms,
        };
        // A message this device sent never comes back through its own
        // mailbox: announce it without remembering it.
        let _ = self
            .bus
            .send(convert::message(&record, &self.me, &self.names(), true));
        to_value(m::SendResult {
            message_id: sent.message_id,
            sent_at: sent.sent_at_ms,
            version: sent.version,
            fallback: sent.fallback,
            expires_at: sent.expires_at_ms,
            to: to.to_string(),
        })
    }

    async fn inbox(&mut self) -> Result<Value, ErrorObject> {
        let records = self
            .client
            .inbox(None)
            .await
            .map_err(|e| client_error(&e))?;
        // Subscribers hear of them first (if the waiting retrieve has not
        // already announced them).
        self.announce(&records);
        let now = self.client.now_ms();
        let names = self.names();
        let mut out = Vec::with_capacity(records.len());
        for r in &records {
            let mut msg = convert::message(r, &self.me, &names, false);
            if msg.expires_at.is_none()
                && let Some(t) = r.timer
                && t.mode == nightjar_client::messaging::TimerMode::Read
            {
                // The timer that runs from reading starts now.
                msg.expires_at = Some(now.saturating_add(t.after_ms));
            }
            out.push(msg);
        }
        let ids: Vec<String> = records.iter().map(|r| r.message_id.clone()).collect();
        let profile = self.client.profile_mut();
        profile.mark_shown(&ids).map_err(|e| client_error(&e))?;
        profile
            .start_read_timers(&ids, now)
            .map_err(|e| client_error(&e))?;
        to_value(out)
    }

    fn conversations(&self) -> Result<Value, ErrorObject> {
        let profile = self.client.profile();
        let names = self.names();
        let list = profile.conversations().map_err(|e| client_error(&e))?;
        let mut out = Vec::with_capacity(list.len());
        for c in list {
            let timer = c
                .peer
                .parse::<AccountId>()
                .ok()
                .and_then(|a| profile.timer(a.public_key()).ok().flatten())
                .map(convert::timer);
            out.push(m::Conversation {
                name: names.get(&c.peer).cloned(),
                last: Some(convert::message(&c.last, &self.me, &names, c.unread == 0)),
                unread: c.unread,
                timer,
                peer: c.peer,
            });
        }
        to_value(out)
    }

    fn history(&self, p: m::HistoryParams) -> Result<Value, ErrorObject> {
        let limit = p.limit.unwrap_or(m::HISTORY_DEFAULT_LIMIT);
        if limit > m::HISTORY_MAX_LIMIT {
            return Err(ErrorObject::new(
                INVALID_PARAMS,
                format!("limit is at most {}", m::HISTORY_MAX_LIMIT),
            ));
        }
        let peer = self.resolve(&p.peer)?.to_string();
        let names = self.names();
        let records = self
            .client
            .profile()
            .conversation(&peer, limit)
            .map_err(|e| client_error(&e))?;
        to_value(
            records
                .iter()
                .map(|(r, shown)| convert::message(r, &self.me, &names, *shown))
                .collect::<Vec<_>>(),
        )
    }
}

fn contact(c: nightjar_client::contacts::Contact) -> m::Contact {
    m::Contact {
        name: c.name,
        account_id: c.account_id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn record(id: &str) -> HistoryRecord {
        HistoryRecord {
            message_id: id.to_owned(),
            direction: nightjar_client::Direction::In,
            peer: "nj1peer".to_owned(),
            text: format!("text of {id}"),
            sent_at_ms: 1,
            version: 2,
            timer: None,
            expires_at_ms: None,
        }
    }

    fn ids(records: &[&HistoryRecord]) -> Vec<String> {
        records.iter().map(|r| r.message_id.clone()).collect()
    }

    #[test]
    fn a_round_announces_each_message_once_and_forgets_the_shown_ones() {
        // Unshown at start: a.
        let mut announced = Announced::new(["a".to_owned()]);
        let round1 = [record("a"), record("b"), record("c")];
        assert_eq!(ids(&announced.round(&round1)), ["b", "c"]);
        assert_eq!(announced.len(), 3);
        // The same messages again: nothing new, nothing forgotten.
        assert!(announced.round(&round1).is_empty());
        assert_eq!(announced.len(), 3);
        // a and c were shown (an `inbox` call) and d arrived: the set holds
        // only the unshown ones.
        let round2 = [record("b"), record("d")];
        assert_eq!(ids(&announced.round(&round2)), ["d"]);
        assert_eq!(announced.len(), 2);
        // Everything shown: the set is empty.
        assert!(announced.round(&[]).is_empty());
        assert_eq!(announced.len(), 0);
    }

    #[test]
    fn fresh_remembers_without_forgetting() {
        let mut announced = Announced::default();
        assert_eq!(
            ids(&announced.fresh(&[record("a"), record("b")])),
            ["a", "b"]
        );
        assert_eq!(ids(&announced.fresh(&[record("b"), record("c")])), ["c"]);
        // `inbox` announces only; pruning waits for the next round.
        assert_eq!(announced.len(), 3);
    }
}
