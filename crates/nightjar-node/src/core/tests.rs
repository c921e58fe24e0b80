//! Per-request decisions: errors, replay, clock window, signatures, key cache.

#![allow(clippy::unwrap_used)]

use super::account_keys::AccountKeys;
use super::*;
use nightjar_crypto::hash::message_hash;
use nightjar_crypto::identity::Identity;
use nightjar_wire::{DeleteRequest, RetrieveRequest, StoreRequest, WireError};

const NOW: u64 = 1_800_000_000_000;

/// `request` from a client, through the pre-check (on the same clock).
fn handle(core: &mut NodeCore, now: u64, request: Result<Request, WireError>) -> Action {
    let pre = Prechecker::new(Identity::generate().unwrap(), Arc::new(Ed25519));
    core.handle(now, None, pre.check(now, request))
}

fn retrieve(id: &Identity, ts: u64) -> Request {
    let account = AccountKey::new(id.public_key().to_bytes());
    let data = nightjar_wire::retrieve_signed_data(&account, 0, 0, 0, ts);
    Request::Retrieve(RetrieveRequest {
        account,
        namespace: 0,
        after_seq: 0,
        wait_ms: 0,
        timestamp_ms: ts,
        signature: id.sign_labelled(LABEL_RETRIEVE, &data),
    })
}

fn code(action: Action) -> Option<ErrorCode> {
    match action {
        Action::Respond(Response {
            body: ResponseBody::Error { code, .. },
            ..
        }) => Some(code),
        _ => None,
    }
}

#[test]
fn disk_full_is_storage_full_and_other_store_failures_stay_internal() {
    let full = store_error_response(NOW, &nightjar_store::StoreError::DiskFull { op: "commit" });
    assert_eq!(full.node_time_ms, NOW);
    match &full.body {
        ResponseBody::Error { code, message } => {
            assert_eq!(*code, ErrorCode::StorageFull);
            assert!(code.is_retryable());
            assert!(message.contains("disk is full"), "{message}");
            assert!(!message.contains("commit"), "leaks internals: {message}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    assert_eq!(
        code(Action::Respond(store_error_response(
            NOW,
            &nightjar_store::StoreError::WriterGone
        ))),
        Some(ErrorCode::Internal)
    );
    assert_eq!(
        code(Action::Respond(store_error_response(
            NOW,
            &nightjar_store::StoreError::QuotaExceeded { limit: "bytes" }
        ))),
        Some(ErrorCode::QuotaExceeded)
    );
}

#[test]
fn signed_retrieve_is_accepted_once_then_rejected_as_replay() {
    let id = Identity::generate().unwrap();
    let mut core = NodeCore::new(NodeKey::new([0; 32]));
    let req = retrieve(&id, NOW);
    assert!(matches!(
        handle(&mut core, NOW, Ok(req.clone())),
        Action::Retrieve { .. }
    ));
    assert_eq!(
        code(handle(&mut core, NOW + 5, Ok(req))),
        Some(ErrorCode::Replay)
    );
}

#[test]
fn replay_is_forgotten_only_after_the_window() {
    let id = Identity::generate().unwrap();
    let mut core = NodeCore::new(NodeKey::new([0; 32]));
    let req = retrieve(&id, NOW);
    handle(&mut core, NOW, Ok(req.clone()));
    // Still inside the window: replay.
    assert_eq!(
        code(handle(&mut core, NOW + CLOCK_WINDOW_MS, Ok(req.clone()))),
        Some(ErrorCode::Replay)
    );
    // Outside the window the timestamp itself is stale.
    assert_eq!(
        code(handle(&mut core, NOW + CLOCK_WINDOW_MS + 2, Ok(req))),
        Some(ErrorCode::StaleTimestamp)
    );
    assert_eq!(core.replay_entries(), 0);
}

#[test]
fn stale_and_future_timestamps_are_rejected() {
    let id = Identity::generate().unwrap();
    let mut core = NodeCore::new(NodeKey::new([0; 32]));
    assert_eq!(
        code(handle(
            &mut core,
            NOW,
            Ok(retrieve(&id, NOW - CLOCK_WINDOW_MS - 1))
        )),
        Some(ErrorCode::StaleTimestamp)
    );
    assert_eq!(
        code(handle(
            &mut core,
            NOW,
            Ok(retrieve(&id, NOW + CLOCK_WINDOW_MS + 1))
        )),
        Some(ErrorCode::FutureTimestamp)
    );
    assert!(matches!(
        handle(&mut core, NOW, Ok(retrieve(&id, NOW - CLOCK_WINDOW_MS))),
        Action::Retrieve { .. }
    ));
}

#[test]
fn signature_by_another_key_is_rejected() {
    let owner = Identity::generate().unwrap();
    let thief = Identity::generate().unwrap();
    let mut core = NodeCore::new(NodeKey::new([0; 32]));
    let account = AccountKey::new(owner.public_key().to_bytes());
    let hashes = vec![MessageHash::new([1; 32])];
    let data = nightjar_wire::delete_signed_data(&account, 0, &hashes, NOW);
    let req = Request::Delete(DeleteRequest {
        account,
        namespace: 0,
        hashes,
        timestamp_ms: NOW,
        signature: thief.sign_labelled(LABEL_DELETE, &data),
    });
    assert_eq!(
        code(handle(&mut core, NOW, Ok(req))),
        Some(ErrorCode::BadSignature)
    );
}

#[test]
fn account_key_cache_decodes_like_the_key_and_stays_bounded() {
    let mut cache = AccountKeys {
        capacity: 8,
        ..AccountKeys::default()
    };
    let mut invalid = [0xff; 32];
    invalid[31] = 0x7f;
    let invalid = AccountKey::new(invalid);
    assert!(cache.decode(&invalid).is_none());
    assert!(
        cache.decode(&invalid).is_none(),
        "an invalid key is never cached"
    );
    let first = Identity::generate().unwrap().public_key();
    assert_eq!(
        cache.decode(&AccountKey::new(first.to_bytes())),
        Some(first)
    );
    assert_eq!(
        cache.decode(&AccountKey::new(first.to_bytes())),
        Some(first)
    );
    for _ in 0..20 {
        let key = Identity::generate().unwrap().public_key();
        assert_eq!(cache.decode(&AccountKey::new(key.to_bytes())), Some(key));
        assert!(cache.keys.len() <= 8);
    }
    assert_eq!(
        cache.decode(&AccountKey::new(first.to_bytes())),
        Some(first)
    );
}

#[test]
fn store_to_invalid_account_key_is_rejected() {
    let mut core = NodeCore::new(NodeKey::new([0; 32]));
    // Not a valid compressed Edwards point.
    let mut account = [0xff; 32];
    account[31] = 0x7f;
    let req = Request::Store(StoreRequest {
        account: AccountKey::new(account),
        namespace: 0,
        ttl_ms: 60_000,
        data: vec![1],
    });
    assert_eq!(
        code(handle(&mut core, NOW, Ok(req))),
        Some(ErrorCode::UnknownAccount)
    );
}

#[test]
fn store_computes_hash_and_expiry() {
    let id = Identity::generate().unwrap();
    let mut core = NodeCore::new(NodeKey::new([0; 32]));
    let req = Request::Store(StoreRequest {
        account: AccountKey::new(id.public_key().to_bytes()),
        namespace: 0,
        ttl_ms: 60_000,
        data: vec![1, 2, 3],
    });
    match handle(&mut core, NOW, Ok(req)) {
        Action::Store {
            hash, expiry_ms, ..
        } => {
            assert_eq!(
                hash.to_bytes(),
                message_hash(&id.public_key(), 0, &[1, 2, 3])
            );
            assert_eq!(expiry_ms, NOW + 60_000);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn undecodable_request_gets_typed_error_with_node_time() {
    let mut core = NodeCore::new(NodeKey::new([0; 32]));
    match handle(&mut core, NOW, Err(WireError::UnsupportedVersion(9))) {
        Action::Respond(r) => {
            assert_eq!(r.node_time_ms, NOW);
            assert!(matches!(
                r.body,
                ResponseBody::Error {
                    code: ErrorCode::UnsupportedVersion,
                    ..
                }
            ));
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// Ed25519, counting the verifications.
#[derive(Debug, Default)]
struct Counting(std::sync::atomic::AtomicU64);

impl Signatures for Counting {
    fn sign(
        &self,
        identity: &nightjar_crypto::identity::Identity,
        label: &str,
        data: &[u8],
    ) -> [u8; 64] {
        Ed25519.sign(identity, label, data)
    }

    fn verify(&self, key: &PublicKey, label: &str, data: &[u8], signature: &[u8; 64]) -> bool {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ed25519.verify(key, label, data, signature)
    }
}

impl Counting {
    fn count(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[test]
fn the_precheck_verifies_signatures_so_the_core_does_not() {
    let signatures = Arc::new(Counting::default());
    let pre = Prechecker::new(Identity::generate().unwrap(), signatures.clone());
    let mut core = NodeCore::new(NodeKey::new([0; 32]));
    core.set_signatures(signatures.clone());
    let owner = Identity::generate().unwrap();
    let checked = pre.check(NOW, Ok(retrieve(&owner, NOW)));
    assert_eq!(signatures.count(), 1);
    assert!(matches!(
        core.handle(NOW, None, checked),
        Action::Retrieve { .. }
    ));
    assert_eq!(signatures.count(), 1, "not verified again under the lock");
    // A bad signature is refused on the pre-check's verdict alone.
    let thief = Identity::generate().unwrap();
    let Request::Retrieve(mut forged) = retrieve(&owner, NOW + 1) else {
        panic!("a retrieve")
    };
    forged.signature = thief.sign_labelled(LABEL_RETRIEVE, &forged.signed_data());
    let checked = pre.check(NOW, Ok(Request::Retrieve(forged)));
    assert_eq!(signatures.count(), 2);
    assert_eq!(
        code(core.handle(NOW, None, checked)),
        Some(ErrorCode::BadSignature)
    );
    assert_eq!(signatures.count(), 2);
}

#[test]
fn a_timestamp_outside_the_window_at_the_precheck_is_verified_by_the_core_if_its_clock_agrees() {
    let signatures = Arc::new(Counting::default());
    let pre = Prechecker::new(Identity::generate().unwrap(), signatures.clone());
    let mut core = NodeCore::new(NodeKey::new([0; 32]));
    core.set_signatures(signatures.clone());
    let owner = Identity::generate().unwrap();
    // Too far ahead at the pre-check's clock: not verified there ...
    let ts = NOW + CLOCK_WINDOW_MS + 5;
    let checked = pre.check(NOW, Ok(retrieve(&owner, ts)));
    assert_eq!(signatures.count(), 0);
    // ... but the core's clock moved on: it verifies, then accepts.
    assert!(matches!(
        core.handle(NOW + 10, None, checked),
        Action::Retrieve { .. }
    ));
    assert_eq!(signatures.count(), 1);
    // A stale one is refused without any verification.
    let checked = pre.check(NOW, Ok(retrieve(&owner, NOW - CLOCK_WINDOW_MS - 1)));
    assert_eq!(
        code(core.handle(NOW, None, checked)),
        Some(ErrorCode::StaleTimestamp)
    );
    assert_eq!(signatures.count(), 1);
}
