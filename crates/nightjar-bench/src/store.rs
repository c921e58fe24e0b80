//! `store`: acknowledged durable stores.
//!
//! 1. Through an N-node swarm (every node real: QUIC on loopback, SQLite on
//!    disk, in this process), against the same load on a single node in this
//!    process, in the same run (`ratio`, `ratio_cpu`).
//! 2. One node in its own process (its CPU time read from `/proc`), against
//!    bare SQLite inserting the same rows into a table with the same columns
//!    and indexes, with the same durability (WAL, `synchronous=FULL`) and
//!    one commit per `concurrency` rows, the most a node with that many
//!    stores in flight could share one commit among (`ratio_sqlite`).
//! 3. The same node, the same requests, arriving as clients send them:
//!    through circuits (`ratio_sqlite_circuit`, against the same baseline).
//!    Each circuit has one hop, so the node is guard and exit at once and
//!    does per request what an exit does (open one layer, reassemble, run
//!    the store, seal the answer's cells). Phase 2's QUIC stream per store
//!    is the transport a v1 onion exit gets a store on (its layer's X25519
//!    on top) and a member its replicas.
//! 4. Receipt signatures per store, counted from the answers (distinct
//!    signatures: a node signs once per batch, §5.4), and WAL bytes per
//!    stored message, the same rows inserted with checkpoints off into the
//!    store's schema and into schema version 3's (`wal_bytes_per_message`,
//!    `wal_bytes_per_message_schema_v3`).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use nightjar_client::logic::prepare_send;
use nightjar_crypto::identity::Identity;
use nightjar_launch::NodeBinary;
use nightjar_node::{NodeConfig, RunningNode};
use nightjar_registry::NodeEntry;
use nightjar_wire::{Request, ResponseBody};
use serde_json::json;

use crate::util::{self, cpu_seconds};

/// A network of `n` in-process nodes forming one registry: each binds port
/// 0, then the registry listing the ports they bound is written and every
/// node is waited for until it serves it. Each has room for `messages`
/// messages in one account ([`room_for`]).
async fn network(
    dir: &Path,
    n: usize,
    messages: usize,
) -> anyhow::Result<(Vec<RunningNode>, Vec<NodeEntry>)> {
    let registry_path = dir.join("registry.toml");
    util::empty_registry(&registry_path)?;
    let mut nodes = Vec::with_capacity(n);
    let mut entries = Vec::with_capacity(n);
    for (i, identity) in util::identities(n)?.into_iter().enumerate() {
        let mut config = room_for(
            NodeConfig::new(util::ANY_PORT, dir.join(format!("node-{i}"))),
            messages,
        );
        config.registry = Some(registry_path.clone());
        config.log = "warn".into();
        // The load generator is one client pushing as hard as it can.
        config.requests_per_sec_per_connection = u32::MAX / 4;
        let node = nightjar_node::start(config, identity).await?;
        entries.push(util::entry(node.node_key, node.listen));
        nodes.push(node);
    }
    util::publish_registry(&registry_path, &entries).await?;
    Ok((nodes, entries))
}

/// `config` with room for `messages` messages in one account: every phase
/// stores into one recipient's mailbox, and a store the quota refuses is
/// not an acknowledged store.
fn room_for(mut config: NodeConfig, messages: usize) -> NodeConfig {
    let messages = u64::try_from(messages).unwrap_or(u64::MAX);
    config.max_messages_per_account = config.max_messages_per_account.max(messages);
    // Far more than the bench's envelopes need (a few KiB each).
    config.max_bytes_per_account = config
        .max_bytes_per_account
        .max(messages.saturating_mul(16 * 1024));
    config
}

/// Result of one phase.
struct Phase {
    acked: usize,
    wall: Duration,
    cpu: f64,
    receipts: usize,
    /// Distinct receipt signatures among them (one per receipt tree a
    /// node signed).
    signatures: usize,
}

/// What [`drive`] saw: acked stores, receipts, distinct receipt
/// signatures, wall time, CPU seconds.
type Driven = (usize, usize, usize, Duration, f64);

/// Seal `messages` envelopes to one recipient (before any timing: the
/// phases measure the nodes, not the client's crypto).
fn sealed_requests(messages: usize) -> anyhow::Result<Vec<Request>> {
    let sender = Identity::generate()?;
    let recipient = Identity::generate()?.account_id();
    Ok((0..messages)
        .map(|i| {
            prepare_send(
                &sender,
                &recipient,
                &format!("bench {i}"),
                1,
                Duration::from_secs(3600),
            )
            .map(|p| p.request)
        })
        .collect::<Result<_, _>>()?)
}

/// Send `requests` with `concurrency` in flight, one connection each,
/// spread over `entries`; returns what it saw ([`Driven`], CPU seconds by
/// `cpu`). The clocks start once every connection is up.
async fn drive(
    entries: &[NodeEntry],
    requests: Arc<Vec<Request>>,
    concurrency: usize,
    cpu: impl Fn() -> anyhow::Result<f64>,
) -> anyhow::Result<Driven> {
    let endpoint = nightjar_transport::client_endpoint(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let mut conns = Vec::with_capacity(concurrency);
    for i in 0..concurrency {
        let e = &entries[i % entries.len()];
        conns.push(nightjar_transport::connect(&endpoint, e.addr, &e.id.0).await?);
    }
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let cpu0 = cpu()?;
    let t0 = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for conn in conns {
        let requests = requests.clone();
        let next = next.clone();
        tasks.spawn(async move {
            let (mut acked, mut receipts) = (0usize, 0usize);
            let mut signatures = HashSet::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(req) = requests.get(i) else { break };
                if let Ok(resp) =
                    nightjar_transport::request(&conn, req, Duration::from_secs(30)).await
                    && let ResponseBody::Stored { receipts: r, .. } = resp.body
                {
                    acked += 1;
                    receipts += r.len();
                    signatures.extend(r.into_iter().map(|r| (r.node_key, r.signature)));
                }
            }
            (acked, receipts, signatures)
        });
    }
    let (mut acked, mut receipts) = (0, 0);
    let mut signatures = HashSet::new();
    while let Some(r) = tasks.join_next().await {
        let (a, rc, s) = r?;
        acked += a;
        receipts += rc;
        signatures.extend(s);
    }
    let wall = t0.elapsed();
    let used = cpu()? - cpu0;
    endpoint.close(0u32.into(), b"done");
    Ok((acked, receipts, signatures.len(), wall, used))
}

/// Store `messages` pre-sealed envelopes through `entries` with
/// `concurrency` in flight, spreading entry points over the members.
async fn run_phase(
    dir: &Path,
    n: usize,
    messages: usize,
    concurrency: usize,
) -> anyhow::Result<Phase> {
    let (nodes, entries) = network(dir, n, messages).await?;
    let requests = sealed_requests(messages)?;
    let requests = Arc::new(requests);
    let (acked, receipts, signatures, wall, cpu) =
        drive(&entries, requests, concurrency, cpu_seconds).await?;
    for node in nodes {
        node.shutdown().await;
    }
    Ok(Phase {
        acked,
        wall,
        cpu,
        receipts,
        signatures,
    })
}

/// (account, namespace, hash, data, expiry, ring position) of each store
/// request: what a node writes for it.
type Row<'a> = ([u8; 32], u16, [u8; 32], &'a [u8], i64, i64);

/// Fixed "now" of the bare-SQLite phases.
const SQLITE_NOW: i64 = 1_800_000_000_000;

fn rows_of(requests: &[Request]) -> Vec<Row<'_>> {
    requests
        .iter()
        .filter_map(|r| match r {
            Request::Store(s) => {
                let key =
                    nightjar_crypto::identity::PublicKey::from_bytes(s.account.as_bytes()).ok()?;
                let hash = nightjar_crypto::hash::message_hash(&key, s.namespace, &s.data);
                let pos = nightjar_crypto::hash::ring_position(&key) ^ (1 << 63);
                let ttl = i64::try_from(s.ttl_ms).unwrap_or(i64::MAX);
                Some((
                    s.account.to_bytes(),
                    s.namespace,
                    hash,
                    s.data.as_slice(),
                    SQLITE_NOW.saturating_add(ttl),
                    pos as i64,
                ))
            }
            _ => None,
        })
        .collect()
}

/// Inserts `rows`, `batch` per transaction, as the node's writer does.
fn insert_rows(
    conn: &mut rusqlite::Connection,
    rows: &[Row<'_>],
    batch: usize,
) -> anyhow::Result<()> {
    for chunk in rows.chunks(batch.max(1)) {
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO messages (account, namespace, hash, data, stored_at_ms, expiry_ms, pos)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for (account, namespace, hash, data, expiry, pos) in chunk {
                stmt.execute(rusqlite::params![
                    &account[..],
                    namespace,
                    &hash[..],
                    data,
                    SQLITE_NOW,
                    expiry,
                    pos
                ])?;
            }
        }
        tx.commit()?;
    }
    Ok(())
}

/// WAL bytes written per stored message: `rows` inserted `batch` per
/// commit (WAL, `synchronous=FULL`, the writer's cache) into a file with
/// the store's current schema (`old_ddl` `None`) or with `old_ddl`, the
/// automatic checkpoint off so that the WAL file holds every frame
/// written; its size over the row count.
fn wal_bytes_per_row(
    path: &Path,
    old_ddl: Option<&str>,
    rows: &[Row<'_>],
    batch: usize,
) -> anyhow::Result<f64> {
    match old_ddl {
        None => nightjar_store::Store::open(nightjar_store::StoreConfig::new(
            path.to_path_buf(),
            nightjar_node::sync::ring_position,
        ))?
        .close(),
        Some(ddl) => rusqlite::Connection::open(path)?.execute_batch(ddl)?,
    }
    let mut conn = rusqlite::Connection::open(path)?;
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "cache_size", -nightjar_store::WRITER_CACHE_KIB)?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    insert_rows(&mut conn, rows, batch)?;
    let wal = std::fs::metadata(path.with_extension("sqlite-wal"))?.len();
    drop(conn);
    Ok(wal as f64 / rows.len().max(1) as f64)
}

/// Bare SQLite: the rows of `requests` inserted into `path` with the node
/// store's schema, durability (WAL, `synchronous=FULL`) and write cache,
/// `batch` rows per commit.
/// Returns (rows, wall time, CPU seconds of this process).
fn sqlite_phase(
    path: &Path,
    requests: &[Request],
    batch: usize,
) -> anyhow::Result<(usize, Duration, f64)> {
    // The node store's own tables and indexes, made by opening a store on the
    // file: the baseline inserts into exactly the `messages` table a node
    // writes, and cannot drift from it when the schema changes.
    nightjar_store::Store::open(nightjar_store::StoreConfig::new(
        path.to_path_buf(),
        nightjar_node::sync::ring_position,
    ))?
    .close();
    let mut conn = rusqlite::Connection::open(path)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        bail!("SQLite refused WAL mode ({mode})");
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    // The node's write connection's page cache (a negative size is in KiB).
    conn.pragma_update(None, "cache_size", -nightjar_store::WRITER_CACHE_KIB)?;
    // Hashes and ring positions first: the node computes them too, but this
    // phase is the floor for the write itself.
    let rows = rows_of(requests);
    let cpu0 = cpu_seconds()?;
    let t0 = Instant::now();
    insert_rows(&mut conn, &rows, batch)?;
    Ok((rows.len(), t0.elapsed(), cpu_seconds()? - cpu0))
}

/// One node in its own process: the same load as [`run_phase`], with the
/// node's CPU time read from `/proc`.
async fn process_phase(
    dir: &Path,
    bin: &NodeBinary,
    messages: usize,
    concurrency: usize,
) -> anyhow::Result<(Phase, Vec<Request>)> {
    let id = Identity::generate()?;
    let config = room_for(
        util::bench_config(util::ANY_PORT, dir.join("node"), None),
        messages,
    );
    let node = util::launch(bin, &config, &id)?.start().await?;
    let entries = vec![util::entry(id.public_key(), node.addr())];
    let requests = sealed_requests(messages)?;
    let shared = Arc::new(requests.clone());
    let (acked, receipts, signatures, wall, cpu) =
        drive(&entries, shared, concurrency, || Ok(node.cpu_seconds()?)).await?;
    drop(node);
    Ok((
        Phase {
            acked,
            wall,
            cpu,
            receipts,
            signatures,
        },
        requests,
    ))
}

/// One node in its own process, the stores arriving as clients send them:
/// through circuits (one hop each here: the node is guard and exit, its
/// work per request the exit's), `concurrency` circuits with one request in
/// flight on each. The same requests as [`process_phase`]; the node's CPU
/// from `/proc`, circuits built before the clock starts.
async fn circuit_phase(
    dir: &Path,
    bin: &NodeBinary,
    requests: &[Request],
    concurrency: usize,
) -> anyhow::Result<Phase> {
    let lanes = concurrency.clamp(1, crate::circuit_hop::MAX_CONCURRENCY);
    let id = Identity::generate()?;
    let config = room_for(
        util::bench_config(util::ANY_PORT, dir.join("node"), None),
        requests.len(),
    );
    let node = util::launch(bin, &config, &id)?.start().await?;
    let addr = node.addr();
    let hops = [id.public_key()];
    let requests = requests.to_vec();
    let total = requests.len();
    let (figures, cpu) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        use crate::circuit_hop::{CircuitLoad, build_circuits, drive, generator_socket, split};
        let socket = generator_socket()?;
        let keys = build_circuits(&socket, addr, &hops, lanes)?;
        let mut load = CircuitLoad::with_requests(keys, &requests, |b| {
            matches!(b, ResponseBody::Stored { .. })
        })?;
        let cpu0 = node.cpu_seconds()?;
        let f = drive(&socket, addr, &mut load, &split(total, lanes))?;
        let cpu = node.cpu_seconds()? - cpu0;
        drop(node);
        Ok((f, cpu))
    })
    .await??;
    if figures.failed > 0 {
        bail!(
            "{} of {total} stores through circuits were not acknowledged",
            figures.failed
        );
    }
    Ok(Phase {
        acked: figures.relayed,
        wall: figures.wall,
        cpu,
        receipts: 0,
        signatures: 0,
    })
}

/// Run the benchmark and print its JSON.
pub async fn run(
    nodes: usize,
    messages: usize,
    concurrency: usize,
    dir: Option<PathBuf>,
    node_bin: Option<PathBuf>,
) -> anyhow::Result<()> {
    if nodes == 0 || messages == 0 || concurrency == 0 {
        bail!("--nodes, --messages and --concurrency must be positive");
    }
    let bin = NodeBinary::find(node_bin.as_deref())?;
    let tmp = util::bench_dir(dir)?;
    let single_dir = tmp.path().join("single");
    let swarm_dir = tmp.path().join("swarm");
    std::fs::create_dir_all(&single_dir)?;
    std::fs::create_dir_all(&swarm_dir)?;
    let single = run_phase(&single_dir, 1, messages, concurrency).await?;
    let swarm = run_phase(&swarm_dir, nodes, messages, concurrency).await?;
    let process_dir = tmp.path().join("process");
    std::fs::create_dir_all(&process_dir)?;
    let (process, requests) = process_phase(&process_dir, &bin, messages, concurrency).await?;
    let circuit_dir = tmp.path().join("circuit");
    std::fs::create_dir_all(&circuit_dir)?;
    let circuit = circuit_phase(&circuit_dir, &bin, &requests, concurrency).await?;
    let (rows, sqlite_wall, sqlite_cpu) =
        sqlite_phase(&process_dir.join("bare.sqlite"), &requests, concurrency)?;
    let wal_rows = rows_of(&requests);
    let wal_now = wal_bytes_per_row(
        &process_dir.join("wal-now.sqlite"),
        None,
        &wal_rows,
        concurrency,
    )?;
    let wal_v3 = wal_bytes_per_row(
        &process_dir.join("wal-v3.sqlite"),
        Some(nightjar_store::MESSAGES_V3_DDL),
        &wal_rows,
        concurrency,
    )?;

    let sqlite_rate = rows as f64 / sqlite_wall.as_secs_f64().max(f64::MIN_POSITIVE);
    let sqlite_cpu_rate = if sqlite_cpu > 0.0 {
        rows as f64 / sqlite_cpu
    } else {
        0.0
    };
    let rate = |p: &Phase| p.acked as f64 / p.wall.as_secs_f64();
    let cpu_rate = |p: &Phase| {
        if p.cpu > 0.0 {
            p.acked as f64 / p.cpu
        } else {
            0.0
        }
    };
    let out = json!({
        "bench": "store",
        "nodes": nodes,
        "messages": messages,
        "concurrency": concurrency,
        "acked": swarm.acked,
        "stores_per_sec": rate(&swarm),
        "stores_per_cpu_sec": cpu_rate(&swarm),
        "receipts_per_store": swarm.receipts as f64 / swarm.acked.max(1) as f64,
        "receipt_signatures_per_store": swarm.signatures as f64 / swarm.acked.max(1) as f64,
        "single_node_stores_per_sec": rate(&single),
        "single_node_stores_per_cpu_sec": cpu_rate(&single),
        "ratio": rate(&swarm) / rate(&single).max(f64::MIN_POSITIVE),
        "ratio_cpu": cpu_rate(&swarm) / cpu_rate(&single).max(f64::MIN_POSITIVE),
        "one_node_process_acked": process.acked,
        "one_node_process_stores_per_sec": rate(&process),
        "one_node_process_stores_per_cpu_sec": cpu_rate(&process),
        "one_node_process_receipt_signatures_per_store":
            process.signatures as f64 / process.acked.max(1) as f64,
        "wal_bytes_per_message": wal_now,
        "wal_bytes_per_message_schema_v3": wal_v3,
        "sqlite_rows_per_sec": sqlite_rate,
        "sqlite_rows_per_cpu_sec": sqlite_cpu_rate,
        "sqlite_rows_per_commit": concurrency,
        "ratio_sqlite": cpu_rate(&process) / sqlite_cpu_rate.max(f64::MIN_POSITIVE),
        "ratio_sqlite_wall": rate(&process) / sqlite_rate.max(f64::MIN_POSITIVE),
        "circuit_acked": circuit.acked,
        "circuit_stores_per_sec": rate(&circuit),
        "circuit_stores_per_cpu_sec": cpu_rate(&circuit),
        "ratio_sqlite_circuit": cpu_rate(&circuit) / sqlite_cpu_rate.max(f64::MIN_POSITIVE),
        "node_binary": bin.describe(),
    });
    eprintln!(
        "{nodes}-node swarm: {:.0} acked stores/s ({:.0} per CPU-second, {:.1} receipts each); \
         one node: {:.0}/s ({:.0} per CPU-second); ratio {:.2} (CPU {:.2})",
        rate(&swarm),
        cpu_rate(&swarm),
        swarm.receipts as f64 / swarm.acked.max(1) as f64,
        rate(&single),
        cpu_rate(&single),
        rate(&swarm) / rate(&single).max(f64::MIN_POSITIVE),
        cpu_rate(&swarm) / cpu_rate(&single).max(f64::MIN_POSITIVE),
    );
    eprintln!(
        "one node process: {:.0} acked stores/s, {:.0} per node CPU-second, {:.3} receipt signatures \
         per store; bare SQLite ({concurrency} rows per commit): {:.0} rows/s, {:.0} per CPU-second; \
         ratio (CPU) {:.2}; WAL bytes per message {wal_now:.0} (schema 3: {wal_v3:.0})",
        rate(&process),
        cpu_rate(&process),
        process.signatures as f64 / process.acked.max(1) as f64,
        sqlite_rate,
        sqlite_cpu_rate,
        cpu_rate(&process) / sqlite_cpu_rate.max(f64::MIN_POSITIVE),
    );
    eprintln!(
        "one node process, stores through circuits: {:.0} acked stores/s, {:.0} per node \
         CPU-second; ratio (CPU) {:.2}",
        rate(&circuit),
        cpu_rate(&circuit),
        cpu_rate(&circuit) / sqlite_cpu_rate.max(f64::MIN_POSITIVE),
    );
    println!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    /// `scripts/wal_per_message.py` carries its own copy of the schema-3
    /// DDL (it runs without Rust); it must stay the store's.
    #[test]
    fn the_wal_script_creates_the_stores_schema_3_table() {
        let script = include_str!("../scripts/wal_per_message.py");
        let start = "\nV3 = \"\"\"";
        let from = script.find(start).map(|i| i + start.len());
        let ddl = from.and_then(|from| {
            let len = script.get(from..)?.find("\"\"\"")?;
            script.get(from..from + len)
        });
        assert_eq!(ddl, Some(nightjar_store::MESSAGES_V3_DDL));
    }
}
