//! The client's protocol logic without I/O: every function takes the time and
//! bytes it needs and returns requests or records.

use std::time::Duration;

use nightjar_crypto::envelope::{Content, open, seal_with};
use nightjar_crypto::hash::message_hash;
use nightjar_crypto::identity::{AccountId, Identity, PublicKey};
use nightjar_crypto::{OsRandom, RandomSource, published};
use nightjar_types::namespace::{is_claimable, is_published};
use nightjar_types::{AccountKey, Claimant, MessageHash, StoredMessage};
use nightjar_wire::{
    ClaimRequest, LABEL_RETRIEVE, MAX_MESSAGE_SIZE, MAX_TTL_MS, MIN_TTL_MS, NAMESPACE_DEFAULT,
    Request, RetrieveRequest, StoreRequest,
};

use crate::ClientError;
use crate::profile::{Direction, HistoryRecord};

/// The members of a swarm in the order a client tries them for `account`:
/// highest rendezvous score first, so the choice is stable per account.
pub fn preference_order(
    account: &AccountId,
    mut members: Vec<nightjar_registry::NodeEntry>,
) -> Vec<nightjar_registry::NodeEntry> {
    members.sort_by_key(|n| {
        std::cmp::Reverse(nightjar_crypto::hash::rendezvous_score(
            account.public_key(),
            &n.id.0,
        ))
    });
    members
}

/// Apply a clock offset (node minus local) to a local time.
pub fn corrected(local_ms: u64, offset_ms: i64) -> u64 {
    local_ms.saturating_add_signed(offset_ms)
}

/// The node-minus-local clock offset from one exchange: the node's time is
/// taken to be read halfway through the round trip.
pub fn clock_offset(sent_at_ms: u64, received_at_ms: u64, node_time_ms: u64) -> i64 {
    let midpoint = sent_at_ms / 2 + received_at_ms / 2;
    let diff = i128::from(node_time_ms) - i128::from(midpoint);
    i64::try_from(diff).unwrap_or(if diff < 0 { i64::MIN } else { i64::MAX })
}

/// How many offset samples a [`ClockEstimator`] keeps.
pub const CLOCK_SAMPLES: usize = 9;

/// The network's clock as seen from this client: the median of the last
/// [`CLOCK_SAMPLES`] offsets (node time minus local round-trip midpoint, see
/// [`clock_offset`]), so one node whose clock is wrong, or lies, cannot move
/// it far.
#[derive(Debug, Clone, Default)]
pub struct ClockEstimator {
    /// Oldest first; at most [`CLOCK_SAMPLES`].
    samples: std::collections::VecDeque<i64>,
}

impl ClockEstimator {
    /// An estimator with no samples.
    pub fn new() -> ClockEstimator {
        ClockEstimator::default()
    }

    /// Add one offset sample in ms (node minus local), forgetting the oldest
    /// beyond [`CLOCK_SAMPLES`].
    pub fn add(&mut self, sample_ms: i64) {
        self.samples.push_back(sample_ms);
        while self.samples.len() > CLOCK_SAMPLES {
            self.samples.pop_front();
        }
    }

    /// Add the sample one exchange gives (see [`clock_offset`]).
    pub fn add_exchange(&mut self, sent_at_ms: u64, received_at_ms: u64, node_time_ms: u64) {
        self.add(clock_offset(sent_at_ms, received_at_ms, node_time_ms));
    }

    /// How many samples are held.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether no sample is held yet.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The estimated offset (node minus local) in ms: the median of the
    /// samples, `None` before the first. With an even number of samples it
    /// is the mean of the two middle ones, rounded down.
    pub fn offset_ms(&self) -> Option<i64> {
        let mut sorted: Vec<i64> = self.samples.iter().copied().collect();
        sorted.sort_unstable();
        let mid = sorted.len() / 2;
        let upper = *sorted.get(mid)?;
        if sorted.len() % 2 == 1 {
            return Some(upper);
        }
        let lower = *sorted.get(mid.checked_sub(1)?)?;
        let mean = (i128::from(lower) + i128::from(upper)).div_euclid(2);
        // The mean of two i64 values is an i64.
        i64::try_from(mean).ok()
    }
}

/// A store request ready to go, with what to record once it is acknowledged.
#[derive(Debug, Clone)]
pub struct PreparedSend {
    /// The request.
    pub request: Request,
    /// The hash the node must answer with.
    pub hash: MessageHash,
    /// The history record of the sent message.
    pub record: HistoryRecord,
}

/// Seal `text` from `sender` to `to`, stamped `now_ms`, into a store request,
/// with the envelope's ephemeral key from the OS generator.
pub fn prepare_send(
    sender: &Identity,
    to: &AccountId,
    text: &str,
    now_ms: u64,
    ttl: Duration,
) -> Result<PreparedSend, ClientError> {
    prepare_send_with(&mut OsRandom, sender, to, text, now_ms, ttl)
}

/// [`prepare_send`] with the envelope's ephemeral key drawn from `rng`.
pub fn prepare_send_with(
    rng: &mut dyn RandomSource,
    sender: &Identity,
    to: &AccountId,
    text: &str,
    now_ms: u64,
    ttl: Duration,
) -> Result<PreparedSend, ClientError> {
    let ttl_ms = ttl_ms_of(ttl)?;
    if text.is_empty() {
        return Err(ClientError::InvalidMessage("the text is empty".into()));
    }
    let content = Content {
        text: text.to_string(),
        sent_at_ms: now_ms,
    };
    let data = seal_with(rng, sender, to.public_key(), &content)?;
    let hash = MessageHash::new(message_hash(to.public_key(), NAMESPACE_DEFAULT, &data));
    Ok(PreparedSend {
        request: Request::Store(StoreRequest {
            account: AccountKey::new(to.public_key().to_bytes()),
            namespace: NAMESPACE_DEFAULT,
            ttl_ms,
            data,
        }),
        hash,
        record: HistoryRecord {
            message_id: hex::encode(hash.as_bytes()),
            direction: Direction::Out,
            peer: to.to_string(),
            text: content.text,
            sent_at_ms: now_ms,
            version: 1,
            timer: None,
            expires_at_ms: None,
        },
    })
}

/// A signed retrieve request for `account`'s own mailbox.
pub fn retrieve_request(
    account: &Identity,
    namespace: u16,
    after_seq: u64,
    wait_ms: u32,
    now_ms: u64,
) -> Request {
    retrieve_request_with(
        account,
        namespace,
        after_seq,
        wait_ms,
        now_ms,
        |label, data| account.sign_labelled(label, data),
    )
}

/// Like [`retrieve_request`], with the signature made by `sign(label, data)`
/// instead of the account's Ed25519 key: for a simulator's documented
/// cheaper model only (`nightjar-sim --crypto model`).
pub fn retrieve_request_with(
    account: &Identity,
    namespace: u16,
    after_seq: u64,
    wait_ms: u32,
    now_ms: u64,
    sign: impl FnOnce(&str, &[u8]) -> [u8; 64],
) -> Request {
    let key = AccountKey::new(account.public_key().to_bytes());
    let data = nightjar_wire::retrieve_signed_data(&key, namespace, after_seq, wait_ms, now_ms);
    Request::Retrieve(RetrieveRequest {
        account: key,
        namespace,
        after_seq,
        wait_ms,
        timestamp_ms: now_ms,
        signature: sign(LABEL_RETRIEVE, &data),
    })
}

/// A signed delete request for messages in `account`'s own mailbox.
pub fn delete_request(
    account: &Identity,
    namespace: u16,
    hashes: Vec<MessageHash>,
    now_ms: u64,
) -> Request {
    let key = AccountKey::new(account.public_key().to_bytes());
    let data = nightjar_wire::delete_signed_data(&key, namespace, &hashes, now_ms);
    Request::Delete(nightjar_wire::DeleteRequest {
        account: key,
        namespace,
        hashes,
        timestamp_ms: now_ms,
        signature: account.sign_labelled(nightjar_wire::LABEL_DELETE, &data),
    })
}

/// A record of an account's published namespace, checked by its reader:
/// its hash recomputed and its signature verified for the account and the
/// namespace (`docs/PROTOCOL.md` §5.12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedRecord {
    /// The record's message hash (what a claim or a delete names).
    pub hash: MessageHash,
    /// The body the account signed.
    pub body: Vec<u8>,
}

fn ttl_ms_of(ttl: Duration) -> Result<u64, ClientError> {
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    if !(MIN_TTL_MS..=MAX_TTL_MS).contains(&ttl_ms) {
        return Err(ClientError::InvalidMessage(format!(
            "TTL must be between {} s and {} s",
            MIN_TTL_MS / 1000,
            MAX_TTL_MS / 1000
        )));
    }
    Ok(ttl_ms)
}

fn published_namespace(namespace: u16) -> Result<(), ClientError> {
    if is_published(namespace) {
        Ok(())
    } else {
        Err(ClientError::InvalidMessage(format!(
            "namespace {namespace:#06x} is not a published one (0xff00..=0xffff)"
        )))
    }
}

/// A store of `account`'s signed record of `body` in its published
/// `namespace` (`sig ‖ body`, `docs/PROTOCOL.md` §5.12), kept `ttl`, and
/// the record's hash.
pub fn publish_request(
    account: &Identity,
    namespace: u16,
    body: &[u8],
    ttl: Duration,
) -> Result<(Request, MessageHash), ClientError> {
    published_namespace(namespace)?;
    let ttl_ms = ttl_ms_of(ttl)?;
    let data = published::sign(account, namespace, body);
    if data.len() > MAX_MESSAGE_SIZE {
        return Err(ClientError::InvalidMessage(format!(
            "a published record is at most {} bytes of body",
            MAX_MESSAGE_SIZE - published::SIGNATURE_LEN
        )));
    }
    let hash = MessageHash::new(message_hash(&account.public_key(), namespace, &data));
    let request = Request::Store(StoreRequest {
        account: AccountKey::new(account.public_key().to_bytes()),
        namespace,
        ttl_ms,
        data,
    });
    Ok((request, hash))
}

/// An unsigned retrieve of `account`'s published `namespace` after
/// `after_seq` (anyone may send it; the node checks no signature).
pub fn public_retrieve_request(
    account: &PublicKey,
    namespace: u16,
    after_seq: u64,
    wait_ms: u32,
) -> Result<Request, ClientError> {
    published_namespace(namespace)?;
    Ok(Request::Retrieve(RetrieveRequest::public(
        AccountKey::new(account.to_bytes()),
        namespace,
        after_seq,
        wait_ms,
    )))
}

/// `account`'s record in `namespace`, if `data` is one whose hash is
/// `hash` (the node's word is not taken for either).
pub fn open_published(
    account: &PublicKey,
    namespace: u16,
    hash: &MessageHash,
    data: &[u8],
) -> Result<PublishedRecord, ClientError> {
    let computed = MessageHash::new(message_hash(account, namespace, data));
    if computed != *hash {
        return Err(ClientError::Protocol(
            "node's hash does not match the record".into(),
        ));
    }
    let body = published::verify(account, namespace, data)?;
    Ok(PublishedRecord {
        hash: computed,
        body: body.to_vec(),
    })
}

/// The records among retrieved `messages` of `account`'s published
/// `namespace` that check ([`open_published`]), in node order; the others
/// (a node that lies) are left out and counted.
pub fn published_records(
    account: &PublicKey,
    namespace: u16,
    messages: &[StoredMessage],
) -> (Vec<PublishedRecord>, usize) {
    let mut records = Vec::with_capacity(messages.len());
    let mut refused = 0;
    for m in messages {
        match open_published(account, namespace, &m.hash, &m.data) {
            Ok(record) => records.push(record),
            Err(_) => refused += 1,
        }
    }
    (records, refused)
}

/// A claim of `account`'s record `hash` in the claimable `namespace` by
/// `claimant` (`docs/PROTOCOL.md` §5.13). Draw the claimant at random once
/// per record wanted and send the same one again on every retry.
pub fn claim_request(
    account: &PublicKey,
    namespace: u16,
    hash: MessageHash,
    claimant: Claimant,
) -> Result<Request, ClientError> {
    if !is_claimable(namespace) {
        return Err(ClientError::InvalidMessage(format!(
            "namespace {namespace:#06x} is not a claimable one (0xff80..=0xffff)"
        )));
    }
    Ok(Request::Claim(ClaimRequest {
        account: AccountKey::new(account.to_bytes()),
        namespace,
        hash,
        claimant,
    }))
}

/// A fresh claimant, drawn from `rng`.
pub fn new_claimant(rng: &mut dyn RandomSource) -> Result<Claimant, ClientError> {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes)?;
    Ok(Claimant::new(bytes))
}

/// What a batch of retrieved envelopes turned into.
#[derive(Debug, Default)]
pub struct Processed {
    /// Newly received messages, in node order.
    pub received: Vec<(MessageHash, HistoryRecord)>,
    /// Hashes of envelopes that did not open (tampered, not for us, garbage).
    pub rejected: Vec<MessageHash>,
    /// Why each rejected envelope failed, for the log.
    pub rejected_reasons: Vec<(MessageHash, String)>,
}

/// Open retrieved envelopes, skipping those already known, and check that the
/// node's hash matches the data (a node cannot rename messages).
pub fn process_messages(
    me: &Identity,
    messages: &[StoredMessage],
    mut known: impl FnMut(&MessageHash) -> Result<bool, ClientError>,
) -> Result<Processed, ClientError> {
    let mut out = Processed::default();
    let my_key = me.public_key();
    for m in messages {
        let hash = MessageHash::new(message_hash(&my_key, NAMESPACE_DEFAULT, &m.data));
        if hash != m.hash {
            out.rejected_reasons
                .push((m.hash, "node's hash does not match the data".into()));
            continue;
        }
        if known(&hash)? || out.received.iter().any(|(h, _)| *h == hash) {
            continue;
        }
        match open(me, &m.data) {
            Ok(opened) => out.received.push((
                hash,
                HistoryRecord {
                    message_id: hex::encode(hash.as_bytes()),
                    direction: Direction::In,
                    peer: opened.sender.to_string(),
                    text: opened.content.text.clone(),
                    sent_at_ms: opened.content.sent_at_ms,
                    version: 1,
                    timer: None,
                    expires_at_ms: None,
                },
            )),
            Err(e) => {
                out.rejected.push(hash);
                out.rejected_reasons.push((hash, e.to_string()));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn alice() -> Identity {
        Identity::from_seed(nightjar_crypto::identity::Seed::from_bytes([1; 32]))
    }

    #[test]
    fn a_published_record_round_trips_through_its_store_and_a_public_retrieve() {
        let alice = alice();
        let key = alice.public_key();
        let (request, hash) =
            publish_request(&alice, 0xff01, b"bundle", Duration::from_secs(3600)).unwrap();
        let Request::Store(store) = &request else {
            panic!("a store")
        };
        assert_eq!(store.namespace, 0xff01);
        assert_eq!(&store.data[64..], b"bundle");
        let message = StoredMessage {
            seq: 1,
            hash,
            data: store.data.clone(),
            stored_at_ms: 0,
            expiry_ms: 1,
        };
        let mut forged = message.clone();
        forged.data = published::sign(&Identity::generate().unwrap(), 0xff01, b"bundle");
        forged.hash = MessageHash::new(message_hash(&key, 0xff01, &forged.data));
        let mut renamed = message.clone();
        renamed.hash = MessageHash::new([0; 32]);
        let (records, refused) = published_records(&key, 0xff01, &[message, forged, renamed]);
        assert_eq!(
            records,
            vec![PublishedRecord {
                hash,
                body: b"bundle".to_vec()
            }]
        );
        assert_eq!(refused, 2);
        // The record is the account's for that namespace only.
        assert!(open_published(&key, 0xff02, &hash, &store.data).is_err());
        let Request::Retrieve(r) = public_retrieve_request(&key, 0xff01, 5, 0).unwrap() else {
            panic!("a retrieve")
        };
        assert!(r.is_public() && r.after_seq == 5 && r.signature == [0; 64]);
    }

    #[test]
    fn published_and_claimable_builders_refuse_other_namespaces() {
        let alice = alice();
        let key = alice.public_key();
        let hour = Duration::from_secs(3600);
        assert!(publish_request(&alice, 0, b"x", hour).is_err());
        assert!(publish_request(&alice, 0xfeff, b"x", hour).is_err());
        assert!(publish_request(&alice, 0xff00, b"x", Duration::from_secs(1)).is_err());
        let largest = vec![0; MAX_MESSAGE_SIZE - 64];
        assert!(publish_request(&alice, 0xff00, &largest, hour).is_ok());
        assert!(publish_request(&alice, 0xff00, &[0; MAX_MESSAGE_SIZE - 63], hour).is_err());
        assert!(public_retrieve_request(&key, 0x1000, 0, 0).is_err());
        let hash = MessageHash::new([1; 32]);
        let claimant =
            new_claimant(&mut nightjar_crypto::SeededRandom::from_seed([3; 32])).unwrap();
        assert!(claim_request(&key, 0xff7f, hash, claimant).is_err());
        let Request::Claim(c) = claim_request(&key, 0xff80, hash, claimant).unwrap() else {
            panic!("a claim")
        };
        assert_eq!((c.namespace, c.hash, c.claimant), (0xff80, hash, claimant));
        // The wire takes it as it is.
        let frame = Request::Claim(c.clone()).to_frame();
        assert_eq!(Request::from_frame(&frame).unwrap(), Request::Claim(c));
    }

    #[test]
    fn clock_offset_uses_round_trip_midpoint() {
        assert_eq!(clock_offset(1_000, 1_100, 1_050), 0);
        assert_eq!(clock_offset(1_000, 1_100, 601_050), 600_000);
        assert_eq!(clock_offset(601_000, 601_100, 1_050), -600_000);
        assert_eq!(corrected(1_000, -600_000), 0);
    }

    #[test]
    fn clock_estimator_is_empty_until_a_sample_arrives() {
        let mut c = ClockEstimator::new();
        assert_eq!(c.offset_ms(), None);
        c.add(42);
        assert_eq!(c.offset_ms(), Some(42));
        c.add(50);
        assert_eq!(c.offset_ms(), Some(46), "mean of the two middles");
        c.add(-3);
        c.add(-4);
        assert_eq!(c.offset_ms(), Some(19), "(-3 + 42) / 2 rounded down");
        c.add(i64::MAX);
        c.add(i64::MAX);
        assert_eq!(c.offset_ms(), Some(46), "-4 -3 42 50 MAX MAX");
        c.add(i64::MIN);
        c.add(i64::MIN);
        assert!(c.offset_ms().is_some(), "no overflow");
    }

    #[test]
    fn clock_estimator_keeps_the_last_nine_samples() {
        let mut c = ClockEstimator::new();
        for _ in 0..CLOCK_SAMPLES {
            c.add(-1_000_000);
        }
        for _ in 0..CLOCK_SAMPLES {
            c.add(7);
        }
        assert_eq!(c.len(), CLOCK_SAMPLES);
        assert_eq!(c.offset_ms(), Some(7), "old samples forgotten");
    }

    #[test]
    fn one_lying_node_cannot_move_the_median_much() {
        let honest = [980, 1_010, 995, 1_003, 1_020, 990, 1_001, 1_007];
        for lie in [i64::MIN, -86_400_000, 0, 86_400_000, i64::MAX] {
            for position in 0..=honest.len() {
                let mut c = ClockEstimator::new();
                for (i, s) in honest.iter().enumerate() {
                    if i == position {
                        c.add(lie);
                    }
                    c.add(*s);
                }
                if position == honest.len() {
                    c.add(lie);
                }
                let offset = c.offset_ms().unwrap();
                assert!(
                    (980..=1_020).contains(&offset),
                    "lie {lie} at {position}: {offset}"
                );
            }
        }
    }

    #[test]
    fn a_ten_minute_skew_is_fully_corrected() {
        let skew = 10 * 60 * 1000;
        let mut c = ClockEstimator::new();
        let mut local = 1_700_000_000_000u64;
        for rtt in [40, 120, 60, 80, 200] {
            // The node reads its clock halfway through the round trip.
            let node_time = local + rtt / 2 + skew;
            c.add_exchange(local, local + rtt, node_time);
            local += 5_000;
        }
        let offset = c.offset_ms().unwrap();
        assert_eq!(offset, i64::try_from(skew).unwrap());
        assert_eq!(corrected(local, offset), local + skew);
    }

    #[test]
    fn sent_message_opens_for_recipient_once() {
        let alice = Identity::generate().unwrap();
        let bob = Identity::generate().unwrap();
        let p = prepare_send(&alice, &bob.account_id(), "hi", 5, Duration::from_secs(60)).unwrap();
        let Request::Store(s) = &p.request else {
            panic!("not a store")
        };
        let wire = StoredMessage {
            seq: 1,
            hash: p.hash,
            data: s.data.clone(),
            stored_at_ms: 5,
            expiry_ms: 10,
        };
        let twice = [wire.clone(), wire];
        let got = process_messages(&bob, &twice, |_| Ok(false)).unwrap();
        assert_eq!(got.received.len(), 1);
        assert_eq!(got.received[0].1.text, "hi");
        assert_eq!(got.received[0].1.peer, alice.account_id().to_string());
        assert_eq!(got.received[0].1.message_id, p.record.message_id);
    }

    #[test]
    fn a_seeded_send_replays_from_its_seed_and_still_opens() {
        let alice = Identity::generate().unwrap();
        let bob = Identity::generate().unwrap();
        let send = |seed: u8| {
            let mut rng = nightjar_crypto::SeededRandom::from_seed([seed; 32]);
            let ttl = Duration::from_secs(60);
            prepare_send_with(&mut rng, &alice, &bob.account_id(), "hi", 5, ttl).unwrap()
        };
        let (a, b, c) = (send(1), send(1), send(2));
        assert_eq!(a.hash, b.hash);
        assert_ne!(a.hash, c.hash);
        let Request::Store(s) = &a.request else {
            panic!("not a store")
        };
        let wire = StoredMessage {
            seq: 1,
            hash: a.hash,
            data: s.data.clone(),
            stored_at_ms: 5,
            expiry_ms: 10,
        };
        let got = process_messages(&bob, &[wire], |_| Ok(false)).unwrap();
        assert_eq!(got.received.len(), 1);
        assert_eq!(got.received[0].1.text, "hi");
    }

    #[test]
    fn garbage_and_renamed_messages_are_rejected_not_fatal() {
        let bob = Identity::generate().unwrap();
        let data = vec![1u8; 400];
        let good_hash = MessageHash::new(message_hash(&bob.public_key(), 0, &data));
        let msgs = [
            StoredMessage {
                seq: 1,
                hash: good_hash,
                data: data.clone(),
                stored_at_ms: 0,
                expiry_ms: 0,
            },
            StoredMessage {
                seq: 2,
                hash: MessageHash::new([0; 32]),
                data,
                stored_at_ms: 0,
                expiry_ms: 0,
            },
        ];
        let got = process_messages(&bob, &msgs, |_| Ok(false)).unwrap();
        assert!(got.received.is_empty());
        assert_eq!(got.rejected, vec![good_hash]);
        assert_eq!(got.rejected_reasons.len(), 2);
    }

    #[test]
    fn ttl_outside_bounds_is_refused_before_sending() {
        let a = Identity::generate().unwrap();
        let to = a.account_id();
        assert!(prepare_send(&a, &to, "x", 0, Duration::from_secs(9)).is_err());
        assert!(prepare_send(&a, &to, "x", 0, Duration::from_secs(15 * 86_400)).is_err());
        assert!(prepare_send(&a, &to, "", 0, Duration::from_secs(60)).is_err());
    }
}
