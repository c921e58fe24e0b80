//! Hostile and malformed requests against a real `nightjar-node` process:
//! each gets a typed error response, the node keeps serving, nothing stored
//! is lost, and its info-level log names no client address or account.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use nightjar_crypto::identity::Identity;
use nightjar_wire::{
    AccountKey, DeleteRequest, ErrorCode, LABEL_DELETE, LABEL_RETRIEVE, MessageHash, Request,
    Response, ResponseBody, RetrieveRequest, StoreRequest,
};
use support::{
    NodeProcess, error_code as code, raw_request as raw, store_request as store,
    unix_now_ms as now_ms,
};

const QUOTA: usize = 5;

async fn call(conn: &quinn::Connection, req: &Request) -> Response {
    nightjar_transport::request(conn, req, Duration::from_secs(10))
        .await
        .unwrap()
}

fn retrieve(signer: &Identity, account: &Identity, ts: u64) -> Request {
    let key = AccountKey::new(account.public_key().to_bytes());
    let data = nightjar_wire::retrieve_signed_data(&key, 0, 0, 0, ts);
    Request::Retrieve(RetrieveRequest {
        account: key,
        namespace: 0,
        after_seq: 0,
        wait_ms: 0,
        timestamp_ms: ts,
        signature: signer.sign_labelled(LABEL_RETRIEVE, &data),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_bad_input_gets_a_typed_error_and_loses_nothing() {
    let node = NodeProcess::start(&["--max-messages-per-account", &QUOTA.to_string()]).await;
    let endpoint = nightjar_transport::client_endpoint("127.0.0.1:0".parse().unwrap()).unwrap();
    let client_addr = endpoint.local_addr().unwrap();
    let conn = nightjar_transport::connect(&endpoint, node.addr, &node.key)
        .await
        .unwrap();
    let bystander = nightjar_transport::connect(&endpoint, node.addr, &node.key)
        .await
        .unwrap();
    let owner = Identity::generate().unwrap();
    let other = Identity::generate().unwrap();

    // Two good messages first.
    for i in 0..2u8 {
        let r = call(&conn, &store(&owner, vec![i; 300], 3_600_000)).await;
        assert!(matches!(r.body, ResponseBody::Stored { .. }), "{r:?}");
        assert!(
            r.node_time_ms.abs_diff(now_ms()) < 5_000,
            "every response carries the node's time"
        );
    }

    let good = store(&owner, vec![9; 300], 3_600_000).to_frame();
    // Truncated frame and empty stream.
    assert_eq!(
        code(&raw(&conn, &good[..good.len() / 2]).await),
        Some(ErrorCode::BadRequest)
    );
    assert_eq!(code(&raw(&conn, &[]).await), Some(ErrorCode::BadRequest));
    // Garbage body with a consistent length prefix.
    let mut garbage = vec![0, 0, 0, 10];
    garbage.extend_from_slice(&[0xff; 10]);
    assert_eq!(
        code(&raw(&conn, &garbage).await),
        Some(ErrorCode::BadRequest)
    );
    // Unknown protocol version: field 1 (version) is the first field, `08 01`.
    let mut v2 = good.clone();
    assert_eq!(&v2[4..6], &[0x08, 0x01]);
    v2[5] = 0x02;
    assert_eq!(
        code(&raw(&conn, &v2).await),
        Some(ErrorCode::UnsupportedVersion)
    );
    // Oversized message, and an oversized frame of junk.
    let big = store(
        &owner,
        vec![1; nightjar_wire::MAX_MESSAGE_SIZE + 1],
        3_600_000,
    );
    assert_eq!(
        code(&raw(&conn, &big.to_frame()).await),
        Some(ErrorCode::TooLarge)
    );
    assert_eq!(
        code(&raw(&conn, &vec![0x55; 300_000]).await),
        Some(ErrorCode::TooLarge)
    );
    // TTL out of range, both ways.
    for ttl in [9_999, nightjar_wire::MAX_TTL_MS + 1] {
        assert_eq!(
            code(&raw(&conn, &store(&owner, vec![1; 10], ttl).to_frame()).await),
            Some(ErrorCode::TtlOutOfRange)
        );
    }
    // Unknown (invalid) account key.
    let mut bad_key = [0xff; 32];
    bad_key[31] = 0x7f;
    let bad = Request::Store(StoreRequest {
        account: AccountKey::new(bad_key),
        namespace: 0,
        ttl_ms: 60_000,
        data: vec![1],
    });
    assert_eq!(
        code(&call(&conn, &bad).await),
        Some(ErrorCode::UnknownAccount)
    );
    // Signature by someone else.
    assert_eq!(
        code(&call(&conn, &retrieve(&other, &owner, now_ms())).await),
        Some(ErrorCode::BadSignature)
    );
    // Stale and future timestamps.
    assert_eq!(
        code(&call(&conn, &retrieve(&owner, &owner, now_ms() - 61_000)).await),
        Some(ErrorCode::StaleTimestamp)
    );
    assert_eq!(
        code(&call(&conn, &retrieve(&owner, &owner, now_ms() + 61_000)).await),
        Some(ErrorCode::FutureTimestamp)
    );
    // Replay of a valid signed request.
    let once = retrieve(&owner, &owner, now_ms());
    assert!(matches!(
        call(&conn, &once).await.body,
        ResponseBody::Messages { .. }
    ));
    assert_eq!(code(&call(&conn, &once).await), Some(ErrorCode::Replay));
    // A delete signed by someone else deletes nothing.
    let key = AccountKey::new(owner.public_key().to_bytes());
    let hashes = vec![MessageHash::new([0u8; 32])];
    let ts = now_ms();
    let del = Request::Delete(DeleteRequest {
        account: key,
        namespace: 0,
        signature: other.sign_labelled(
            LABEL_DELETE,
            &nightjar_wire::delete_signed_data(&key, 0, &hashes, ts),
        ),
        hashes,
        timestamp_ms: ts,
    });
    assert_eq!(
        code(&call(&conn, &del).await),
        Some(ErrorCode::BadSignature)
    );
    // Fill the quota; the next store is refused.
    for i in 2..QUOTA as u8 {
        assert!(matches!(
            call(&conn, &store(&owner, vec![i; 300], 3_600_000))
                .await
                .body,
            ResponseBody::Stored { .. }
        ));
    }
    assert_eq!(
        code(&call(&conn, &store(&owner, vec![99; 300], 3_600_000)).await),
        Some(ErrorCode::QuotaExceeded)
    );

    // Replication and sync are for registered nodes only: refused from a
    // client, and from a node key the registry does not list.
    let replica = Request::Replicate(nightjar_wire::ReplicateRequest {
        account: AccountKey::new(owner.public_key().to_bytes()),
        namespace: 0,
        data: vec![1; 300],
        expiry_ms: now_ms() + 60_000,
    });
    assert_eq!(
        code(&call(&conn, &replica).await),
        Some(ErrorCode::NotANode)
    );
    let stranger = Identity::generate().unwrap();
    let as_node =
        nightjar_transport::connect_with(&endpoint, node.addr, &node.key, Some(&stranger))
            .await
            .unwrap();
    let list = Request::SyncList {
        start: 0,
        end: 0,
        after: None,
    };
    for req in [replica, list] {
        assert_eq!(code(&call(&as_node, &req).await), Some(ErrorCode::NotANode));
    }

    // The node still serves another client, and holds every accepted message.
    assert!(matches!(
        call(&bystander, &Request::Info).await.body,
        ResponseBody::Info { .. }
    ));
    match call(&bystander, &retrieve(&owner, &owner, now_ms()))
        .await
        .body
    {
        ResponseBody::Messages { messages, .. } => {
            assert_eq!(messages.len(), QUOTA);
            let firsts: Vec<u8> = messages.iter().map(|m| m.data[0]).collect();
            assert_eq!(firsts, (0..QUOTA as u8).collect::<Vec<_>>());
        }
        other => panic!("unexpected {other:?}"),
    }

    // The metrics count the refusals by code.
    let metrics = support::http_get_async(node.admin, "/metrics").await;
    assert!(metrics.contains("nightjar_requests_total"), "{metrics}");
    assert!(metrics.contains("outcome=\"quota_exceeded\""), "{metrics}");
    assert!(metrics.contains("outcome=\"replay\""), "{metrics}");

    // Privacy: the info-level log names neither the client nor the account.
    let log = std::fs::read_to_string(node.log_path()).unwrap();
    assert!(log.contains("nightjar-node serving"), "log: {log}");
    for needle in [
        client_addr.to_string(),
        format!(":{}", client_addr.port()),
        owner.public_key().to_hex(),
        owner.account_id().to_string(),
    ] {
        assert!(!log.contains(&needle), "node log contains {needle}: {log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_retrieve_returns_as_soon_as_a_message_is_stored() {
    let node = NodeProcess::start(&[]).await;
    let endpoint = nightjar_transport::client_endpoint("127.0.0.1:0".parse().unwrap()).unwrap();
    let reader = nightjar_transport::connect(&endpoint, node.addr, &node.key)
        .await
        .unwrap();
    let writer = nightjar_transport::connect(&endpoint, node.addr, &node.key)
        .await
        .unwrap();
    let owner = Identity::generate().unwrap();
    let key = AccountKey::new(owner.public_key().to_bytes());
    let ts = now_ms();
    let wait_ms = 20_000;
    let req = Request::Retrieve(RetrieveRequest {
        account: key,
        namespace: 0,
        after_seq: 0,
        wait_ms,
        timestamp_ms: ts,
        signature: owner.sign_labelled(
            LABEL_RETRIEVE,
            &nightjar_wire::retrieve_signed_data(&key, 0, 0, wait_ms, ts),
        ),
    });
    let started = std::time::Instant::now();
    let waiting = tokio::spawn(async move {
        nightjar_transport::request(&reader, &req, Duration::from_secs(30))
            .await
            .unwrap()
    });
    // Store once the retrieve is parked: the node counts waiting retrieves.
    loop {
        let metrics = support::http_get_async(node.admin, "/metrics").await;
        if metrics
            .lines()
            .any(|l| l.starts_with("nightjar_waiting_retrieves ") && !l.ends_with(" 0"))
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "retrieve never parked"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stored_at = std::time::Instant::now();
    assert!(matches!(
        call(&writer, &store(&owner, vec![7; 300], 60_000))
            .await
            .body,
        ResponseBody::Stored { .. }
    ));
    let resp = waiting.await.unwrap();
    let latency = stored_at.elapsed();
    match resp.body {
        ResponseBody::Messages { messages, .. } => assert_eq!(messages.len(), 1),
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        latency < Duration::from_secs(5),
        "push took {latency:?}; it must not wait for the 20 s deadline"
    );
}
