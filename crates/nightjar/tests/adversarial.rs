//! Adversarial clients against real `nightjar-node` processes: garbage,
//! huge length prefixes, stream floods, unfinished streams, connection
//! floods, request floods and vanishing clients. Each gets its specific
//! error, the node's memory stays bounded, and a well-behaved client on
//! another connection keeps getting answers during and after the attack.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nightjar_crypto::identity::Identity;
use nightjar_transport::TransportError;
use nightjar_wire::{ErrorCode, LABEL_RETRIEVE, Request, Response, ResponseBody, RetrieveRequest};
use support::{NodeProcess, error_code as code, raw_request as raw, store_request as store};

/// A node started with `--config FILE` holding `limits` (TOML). The flags
/// `NodeProcess` adds (listen, data dir, admin) override the placeholders.
struct Node {
    node: NodeProcess,
    _config: tempfile::TempDir,
}

impl std::ops::Deref for Node {
    type Target = NodeProcess;
    fn deref(&self) -> &NodeProcess {
        &self.node
    }
}

async fn start_node(limits: &str) -> Node {
    let dir = tempfile::Builder::new()
        .prefix("nj-adv-config-")
        .tempdir()
        .unwrap();
    let path = dir.path().join("node.toml");
    std::fs::write(
        &path,
        format!("listen = \"127.0.0.1:1\"\ndata_dir = \"/nonexistent\"\n{limits}\n"),
    )
    .unwrap();
    let node = NodeProcess::start(&["--config", path.to_str().unwrap()]).await;
    Node { node, _config: dir }
}

fn endpoint(bind: &str) -> quinn::Endpoint {
    nightjar_transport::client_endpoint(bind.parse().unwrap()).unwrap()
}

async fn connect(endpoint: &quinn::Endpoint, node: &NodeProcess) -> quinn::Connection {
    nightjar_transport::connect(endpoint, node.addr, &node.key)
        .await
        .unwrap()
}

/// A strictly increasing clock, so that two signed requests never share a
/// timestamp (and so a signature).
fn fresh_ts() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let prev = LAST
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| Some(now.max(l + 1)))
        .unwrap();
    now.max(prev + 1)
}

fn retrieve(account: &Identity, wait_ms: u32) -> Request {
    let key = nightjar_wire::AccountKey::new(account.public_key().to_bytes());
    let ts = fresh_ts();
    let data = nightjar_wire::retrieve_signed_data(&key, 0, 0, wait_ms, ts);
    Request::Retrieve(RetrieveRequest {
        account: key,
        namespace: 0,
        after_seq: 0,
        wait_ms,
        timestamp_ms: ts,
        signature: account.sign_labelled(LABEL_RETRIEVE, &data),
    })
}

/// The well-behaved client: `info`, a store and a retrieve all answered
/// correctly, each within a generous deadline (10 s; this checks that the
/// client is served, not how fast). Returns how long the three took.
async fn assert_serving(conn: &quinn::Connection, owner: &Identity) -> Duration {
    let started = Instant::now();
    let t = Duration::from_secs(10);
    let info = nightjar_transport::request(conn, &Request::Info, t)
        .await
        .unwrap();
    assert!(matches!(info.body, ResponseBody::Info { .. }), "{info:?}");
    let stored = nightjar_transport::request(conn, &store(owner, vec![7; 200], 3_600_000), t)
        .await
        .unwrap();
    assert!(
        matches!(stored.body, ResponseBody::Stored { .. }),
        "{stored:?}"
    );
    let got = nightjar_transport::request(conn, &retrieve(owner, 0), t)
        .await
        .unwrap();
    match got.body {
        ResponseBody::Messages { messages, .. } => assert!(!messages.is_empty()),
        other => panic!("unexpected {other:?}"),
    }
    started.elapsed()
}

/// The sum of the samples of `name` (any labels) on the node's `/metrics`.
async fn metric(node: &NodeProcess, name: &str) -> f64 {
    support::http_get_async(node.admin, "/metrics")
        .await
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The node process's resident memory, in bytes.
fn rss_bytes(node: &NodeProcess) -> u64 {
    node.process.rss_bytes().expect("VmRSS in /proc/PID/status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_huge_length_prefix_and_zero_ttl_get_their_errors() {
    let node = start_node("").await;
    let ep = endpoint("127.0.0.1:0");
    let bad = connect(&ep, &node).await;
    let good = connect(&ep, &node).await;
    let owner = Identity::generate().unwrap();
    assert_serving(&good, &owner).await;

    // Garbage with a consistent length prefix: it does not decode.
    let mut garbage = vec![0, 0, 0, 16];
    garbage.extend_from_slice(&[0xa5; 16]);
    assert_eq!(
        code(&raw(&bad, &garbage).await),
        Some(ErrorCode::BadRequest)
    );
    // Text sent to the wrong port: "GET " announces about 1.2 GB.
    assert_eq!(
        code(&raw(&bad, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await),
        Some(ErrorCode::TooLarge)
    );
    assert_serving(&good, &owner).await;
    // A length prefix announcing 4 GiB, and a few bytes: refused at once,
    // without the node trying to buffer what was announced.
    let started = Instant::now();
    assert_eq!(
        code(&raw(&bad, &[0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4]).await),
        Some(ErrorCode::TooLarge)
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    // A store with a zero TTL.
    assert_eq!(
        code(&raw(&bad, &store(&owner, vec![1; 10], 0).to_frame()).await),
        Some(ErrorCode::TtlOutOfRange)
    );
    // The attacker's own connection still works, and so does everyone else's.
    let info = nightjar_transport::request(&bad, &Request::Info, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(matches!(info.body, ResponseBody::Info { .. }));
    assert_serving(&good, &owner).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_concurrent_streams_are_flow_controlled_in_bounded_memory() {
    const STREAMS: usize = 10_000;
    // No rate limit to speak of: every stream is served for real.
    let node = start_node("requests_per_sec_per_connection = 1000000").await;
    let ep = endpoint("127.0.0.1:0");
    let flood = connect(&ep, &node).await;
    let good = connect(&ep, &node).await;
    let owner = Identity::generate().unwrap();
    assert_serving(&good, &owner).await;
    let rss_before = rss_bytes(&node);

    let frame = Request::Info.to_frame();
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(STREAMS);
    for _ in 0..STREAMS {
        let conn = flood.clone();
        let frame = frame.clone();
        tasks.push(tokio::spawn(async move {
            let (mut send, mut recv) = conn.open_bi().await.unwrap();
            send.write_all(&frame).await.unwrap();
            send.finish().unwrap();
            let bytes = recv
                .read_to_end(nightjar_wire::MAX_RESPONSE_FRAME)
                .await
                .unwrap();
            Response::from_frame(&bytes).unwrap()
        }));
    }
    // While the flood runs, the good client keeps being served — not only
    // once the flood is over: some of its rounds end while flood streams are
    // still unanswered — and the node's memory stays put.
    let mut rss_peak = rss_before;
    let mut worst = Duration::ZERO;
    let mut rounds = 0;
    let mut rounds_during_flood = 0;
    while !tasks.iter().all(|t| t.is_finished()) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the flood was not answered in time"
        );
        worst = worst.max(assert_serving(&good, &owner).await);
        rss_peak = rss_peak.max(rss_bytes(&node));
        rounds += 1;
        if !tasks.iter().all(|t| t.is_finished()) {
            rounds_during_flood += 1;
        }
    }
    let flood_took = started.elapsed();
    let mut infos = 0;
    for t in tasks {
        let resp = t.await.unwrap();
        assert!(matches!(resp.body, ResponseBody::Info { .. }), "{resp:?}");
        infos += 1;
    }
    assert_eq!(infos, STREAMS);
    rss_peak = rss_peak.max(rss_bytes(&node));
    let growth = rss_peak.saturating_sub(rss_before);
    eprintln!(
        "{STREAMS} streams answered in {flood_took:?}; node RSS {} MiB -> peak {} MiB; \
         good client: {rounds} rounds ({rounds_during_flood} ended during the flood), \
         worst {worst:?}",
        rss_before >> 20,
        rss_peak >> 20
    );
    assert!(
        rounds_during_flood >= 1,
        "the good client was served only after the flood ({rounds} rounds)"
    );
    assert!(
        growth < 200 << 20,
        "node memory grew by {} MiB",
        growth >> 20
    );
    assert!(metric(&node, "nightjar_requests_total").await >= STREAMS as f64);
    assert_serving(&good, &owner).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_streams_are_freed_after_the_read_deadline() {
    // More unfinished streams than one connection may have open (256): the
    // later ones can only start once the node frees the first ones.
    const STREAMS: usize = 300;
    let node = start_node("request_read_timeout_ms = 1000").await;
    let ep = endpoint("127.0.0.1:0");
    let slow = connect(&ep, &node).await;
    let good = connect(&ep, &node).await;
    let owner = Identity::generate().unwrap();
    assert_serving(&good, &owner).await;

    let frame = store(&owner, vec![3; 1_000], 3_600_000).to_frame();
    let half = frame[..frame.len() / 2].to_vec();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..STREAMS {
        let conn = slow.clone();
        let half = half.clone();
        tasks.push(tokio::spawn(async move {
            let (mut send, mut recv) = conn.open_bi().await.unwrap();
            let opened = Instant::now();
            send.write_all(&half).await.unwrap();
            // Never finish: `send` lives until the node has dealt with the stream.
            let answer = tokio::time::timeout(
                Duration::from_secs(30),
                recv.read_to_end(nightjar_wire::MAX_RESPONSE_FRAME),
            )
            .await
            .expect("the node freed the stream in time");
            drop(send);
            (opened.elapsed(), answer.map(|b| Response::from_frame(&b)))
        }));
    }
    while !tasks.iter().all(|t| t.is_finished()) {
        assert_serving(&good, &owner).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (mut answered, mut reset) = (0, 0);
    for t in tasks {
        let (held, answer) = t.await.unwrap();
        assert!(
            held >= Duration::from_millis(900),
            "freed after only {held:?}"
        );
        assert!(held < Duration::from_secs(10), "held {held:?}");
        match answer {
            Ok(Ok(resp)) => {
                assert_eq!(code(&resp), Some(ErrorCode::BadRequest), "{resp:?}");
                answered += 1;
            }
            Ok(Err(e)) => panic!("undecodable answer: {e}"),
            Err(quinn::ReadToEndError::Read(quinn::ReadError::Reset(_))) => reset += 1,
            Err(e) => panic!("unexpected stream error {e}"),
        }
    }
    eprintln!(
        "{STREAMS} unfinished streams freed in {:?}: {answered} answered bad_request, {reset} reset",
        started.elapsed()
    );
    // The slow client's connection itself is still usable.
    let info = nightjar_transport::request(&slow, &Request::Info, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(matches!(info.body, ResponseBody::Info { .. }));
    assert_serving(&good, &owner).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_per_ip_limit_are_refused() {
    const LIMIT: usize = 8;
    const FLOOD: usize = 20;
    let node = start_node(&format!("max_connections_per_ip = {LIMIT}")).await;
    // The good client comes from another loopback address.
    let good_ep = endpoint("127.0.0.2:0");
    let good = connect(&good_ep, &node).await;
    let owner = Identity::generate().unwrap();
    assert_serving(&good, &owner).await;

    // Before the flood, the only connection left is the good client's (the
    // readiness check's, from 127.0.0.1 too, has been closed), so 127.0.0.1
    // has all its places.
    let settled = Instant::now();
    while metric(&node, "nightjar_connections").await > 1.0 {
        assert!(
            settled.elapsed() < nightjar_transport::IDLE_TIMEOUT + Duration::from_secs(10),
            "the readiness connection never closed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let flood_ep = endpoint("127.0.0.1:0");
    let mut open = Vec::new();
    let mut refused = 0;
    for _ in 0..FLOOD {
        match nightjar_transport::connect(&flood_ep, node.addr, &node.key).await {
            Ok(conn) => open.push(conn),
            Err(TransportError::Connection(quinn::ConnectionError::ConnectionClosed(close)))
                if close.error_code == quinn::TransportErrorCode::CONNECTION_REFUSED =>
            {
                refused += 1;
            }
            Err(e) => panic!("unexpected connection error {e}"),
        }
    }
    assert_eq!(open.len(), LIMIT, "connections admitted from one address");
    assert_eq!(refused, FLOOD - LIMIT);
    for conn in &open {
        let info = nightjar_transport::request(conn, &Request::Info, Duration::from_secs(10))
            .await
            .unwrap();
        assert!(matches!(info.body, ResponseBody::Info { .. }));
    }
    assert_serving(&good, &owner).await;
    assert!(metric(&node, "nightjar_refused_connections_total").await >= refused as f64);
    let metrics = support::http_get_async(node.admin, "/metrics").await;
    assert!(
        metrics.contains("nightjar_refused_connections_total{limit=\"per_ip\"}"),
        "{metrics}"
    );
    assert!(!metrics.contains("127.0.0."), "metrics name an address");

    // Once the flood's connections close, their places are free again.
    for conn in &open {
        conn.close(0u32.into(), b"done");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(conn) = nightjar_transport::connect(&flood_ep, node.addr, &node.key).await {
            let info = nightjar_transport::request(&conn, &Request::Info, Duration::from_secs(10))
                .await
                .unwrap();
            assert!(matches!(info.body, ResponseBody::Info { .. }));
            break;
        }
        assert!(Instant::now() < deadline, "places were not freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_serving(&good, &owner).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_over_its_request_rate_is_rate_limited_alone() {
    const RATE: usize = 50;
    const REQUESTS: usize = 2_000;
    let node = start_node(&format!("requests_per_sec_per_connection = {RATE}")).await;
    let ep = endpoint("127.0.0.1:0");
    let flood = connect(&ep, &node).await;
    let good = connect(&ep, &node).await;
    let owner = Identity::generate().unwrap();

    let started = Instant::now();
    let mut tasks = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let conn = flood.clone();
        tasks.push(tokio::spawn(async move {
            nightjar_transport::request(&conn, &Request::Info, Duration::from_secs(60))
                .await
                .unwrap()
        }));
    }
    while !tasks.iter().all(|t| t.is_finished()) {
        assert_serving(&good, &owner).await;
    }
    let elapsed = started.elapsed();
    let (mut ok, mut limited) = (0usize, 0usize);
    for t in tasks {
        let resp = t.await.unwrap();
        match &resp.body {
            ResponseBody::Info { .. } => ok += 1,
            _ if code(&resp) == Some(ErrorCode::RateLimited) => limited += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    eprintln!("{REQUESTS} requests in {elapsed:?}: {ok} answered, {limited} rate_limited");
    assert_eq!(ok + limited, REQUESTS);
    assert!(limited > 0);
    // The burst (twice the rate) and the rate over the time it took, with slack.
    assert!(ok >= 2 * RATE, "{ok} answered");
    let allowed = 2 * RATE + (RATE as f64 * elapsed.as_secs_f64()).ceil() as usize + RATE;
    assert!(ok <= allowed, "{ok} answered; at most {allowed} expected");
    assert_eq!(
        metric(&node, "nightjar_rate_limited_total").await,
        limited as f64
    );
    // The limit is per connection: the good client was never limited, and a
    // fresh connection from the same address starts with a full budget.
    assert_serving(&good, &owner).await;
    let fresh = connect(&ep, &node).await;
    assert_serving(&fresh, &owner).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_vanishing_during_a_waiting_retrieve_is_forgotten() {
    let node = start_node("").await;
    let good_ep = endpoint("127.0.0.1:0");
    let good = connect(&good_ep, &node).await;
    let owner = Identity::generate().unwrap();
    let waiter = Identity::generate().unwrap();

    let gone_ep = endpoint("127.0.0.1:0");
    let gone = connect(&gone_ep, &node).await;
    let req = retrieve(&waiter, nightjar_wire::MAX_WAIT_MS);
    let conn = gone.clone();
    let parked = tokio::spawn(async move {
        nightjar_transport::request(&conn, &req, Duration::from_secs(60)).await
    });
    let started = Instant::now();
    while metric(&node, "nightjar_waiting_retrieves").await < 1.0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "retrieve never parked"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_serving(&good, &owner).await;

    // The client disappears: its task, connection and endpoint are dropped.
    parked.abort();
    let _ = parked.await;
    drop(gone);
    drop(gone_ep);
    let vanished = Instant::now();
    while metric(&node, "nightjar_waiting_retrieves").await > 0.0 {
        assert!(
            vanished.elapsed() < Duration::from_secs(10),
            "the vanished client's retrieve is still waiting"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "waiting retrieve freed {:?} after the client vanished",
        vanished.elapsed()
    );
    // The stream's reset can arrive before the connection's close: the
    // connection is forgotten when the close lands, moments later.
    while metric(&node, "nightjar_connections").await > 1.0 {
        assert!(
            vanished.elapsed() < Duration::from_secs(10),
            "the vanished client's connection is still counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_serving(&good, &owner).await;
}

fn onion(ephemeral_key: [u8; 32], layer: Vec<u8>, hop: u32) -> Request {
    Request::Onion(nightjar_wire::OnionRequest {
        ephemeral_key,
        layer,
        hop,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_onion_layers_get_their_errors_and_the_node_keeps_serving() {
    use nightjar_crypto::onion::{HopFailure, OnionError};
    let node = start_node("").await;
    let ep = endpoint("127.0.0.1:0");
    let conn = connect(&ep, &node).await;
    let owner = Identity::generate().unwrap();
    let t = Duration::from_secs(10);
    let ask = |req: Request| {
        let conn = conn.clone();
        async move { nightjar_transport::request(&conn, &req, t).await.unwrap() }
    };

    // Random bytes as a layer: the node has no key to answer with.
    let garbage = ask(onion([9; 32], vec![0x5a; 2_000], 0)).await;
    assert_eq!(code(&garbage), Some(ErrorCode::OnionFailed), "{garbage:?}");
    // A layer for another node.
    let other = Identity::generate().unwrap();
    let (packet, _) =
        nightjar_crypto::onion::build(&[(other.public_key(), 0)], &Request::Info.to_frame())
            .unwrap();
    let wrong = ask(onion(packet.ephemeral_key, packet.layer, 0)).await;
    assert_eq!(code(&wrong), Some(ErrorCode::OnionFailed), "{wrong:?}");
    // Too many hops already, and a layer over the size limit: refused before peeling.
    let deep = ask(onion([9; 32], vec![1; 100], nightjar_wire::MAX_ONION_HOPS)).await;
    assert_eq!(code(&deep), Some(ErrorCode::BadRequest), "{deep:?}");
    let big = ask(onion(
        [9; 32],
        vec![1; nightjar_wire::MAX_ONION_LAYER + 1],
        0,
    ))
    .await;
    assert!(
        matches!(
            code(&big),
            Some(ErrorCode::BadRequest | ErrorCode::TooLarge)
        ),
        "{big:?}"
    );
    // A valid layer naming a next hop that is not a registered node: the
    // client learns that this hop could not forward, nothing more.
    let stranger = Identity::generate().unwrap();
    let (packet, keys) = nightjar_crypto::onion::build(
        &[(node.key, 1_000), (stranger.public_key(), 0)],
        &Request::Info.to_frame(),
    )
    .unwrap();
    let answer = ask(onion(packet.ephemeral_key, packet.layer, 0)).await;
    let ResponseBody::Onion(blob) = &answer.body else {
        panic!("expected an onion answer, got {answer:?}");
    };
    match keys.open(blob) {
        Err(OnionError::HopFailed { hop: 0, failure }) => {
            assert_eq!(failure, HopFailure::NotANode);
        }
        other => panic!("expected hop 0 to report its next hop, got {other:?}"),
    }
    // A layer delivering a node-only request: refused as from any client,
    // inside the onion answer.
    let (packet, keys) = nightjar_crypto::onion::build(
        &[(node.key, 0)],
        &Request::SyncList {
            start: 0,
            end: 0,
            after: None,
        }
        .to_frame(),
    )
    .unwrap();
    let answer = ask(onion(packet.ephemeral_key, packet.layer, 0)).await;
    let ResponseBody::Onion(blob) = &answer.body else {
        panic!("expected an onion answer, got {answer:?}");
    };
    let inner = Response::from_frame(&keys.open(blob).unwrap()).unwrap();
    assert_eq!(code(&inner), Some(ErrorCode::NotANode), "{inner:?}");
    // A layer delivering a store: it lands like a direct store.
    let (packet, keys) = nightjar_crypto::onion::build(
        &[(node.key, 0)],
        &store(&owner, vec![3; 300], 3_600_000).to_frame(),
    )
    .unwrap();
    let answer = ask(onion(packet.ephemeral_key, packet.layer, 0)).await;
    let ResponseBody::Onion(blob) = &answer.body else {
        panic!("expected an onion answer, got {answer:?}");
    };
    let inner = Response::from_frame(&keys.open(blob).unwrap()).unwrap();
    assert!(
        matches!(inner.body, ResponseBody::Stored { .. }),
        "{inner:?}"
    );

    assert_serving(&conn, &owner).await;
    ep.close(0u32.into(), b"done");
}
