//! `onion-hop`: what one relay hop costs, against the bare primitives.
//!
//! 1. In process: the node's own relay code, `nightjar_node::onion::step` on
//!    a forward layer (peel: X25519, two keyed BLAKE2b, XChaCha20-Poly1305
//!    open; the registry lookup of the next hop through `NodeCore`) and
//!    `onion::wrap_relayed` of an answer blob as large as the layer. A second
//!    figure adds what the driver does around it without the network:
//!    decoding the request frame, the pre-check (which peels the layer),
//!    `NodeCore::handle`, `onion::route`, encoding the forwarded
//!    request, decoding the next hop's response frame and encoding the
//!    answer.
//! 2. The bound, in the same run on the same bytes: the sum of the costs of
//!    the primitives one hop needs, each measured on its own with
//!    `nightjar_crypto::bound` (which calls the primitive crates directly,
//!    not the relay's code), taking the fastest implementation of each
//!    (`HopBound`): X25519 (x25519-dalek or aws-lc-rs), the KDF (two keyed
//!    BLAKE2b-56), the AEAD open of the layer and the AEAD seal of the
//!    answer (RustCrypto, or aws-lc-rs ChaCha20-Poly1305 behind HChaCha20).
//!    The relay's code and every primitive are timed in the same rounds.
//! 3. Networked: one real relay node in a child process (QUIC on loopback)
//!    forwarding 2-hop onion requests from a load generator to a sink node
//!    in this process that answers `info`; the relay's CPU time comes from
//!    `/proc/<pid>/stat`.
//! 4. Circuits ([`circuit_hop`]): the same number of `info` requests on
//!    per-account circuits through a relay and an exit node process, against
//!    a bare UDP relay (`recvmmsg`/`sendmmsg`, one ChaCha20-Poly1305 per
//!    cell each way) in this process driven by the same generator:
//!    `ratio_circuit_udp_echo` (requests per relay CPU-second, circuit ÷
//!    bare) and `ratio_circuit_v1_cpu` (relay CPU per request, circuit ÷ the
//!    v1 relay of 3.).

use std::hint::black_box;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nightjar_crypto::bound::{self, AeadImpl, HopBound, StaticX25519, X25519Impl};
use nightjar_crypto::identity::{Identity, PublicKey};
use nightjar_crypto::onion::{self as layers, ReturnKeys};
use nightjar_launch::NodeBinary;
use nightjar_node::core::{CheckedLayer, NodeCore, Prechecker};
use nightjar_node::engine::Ed25519;
use nightjar_node::onion::{OnionStep, route, step, wrap_relayed};
use nightjar_registry::{NodeEntry, NodeId, Registry};
use nightjar_wire::{NodeKey, OnionRequest, Request, Response, ResponseBody};
use serde_json::json;

use crate::circuit_hop;
use crate::util::{self, interleaved};

/// Settings of one run.
pub struct Args {
    /// Relay hops timed in process (split over rounds).
    pub iterations: usize,
    /// Request frame carried by the onion, bytes.
    pub payload: usize,
    /// Onion requests sent through the networked relay (0 skips it).
    pub requests: usize,
    /// Requests in flight at once through the networked relay, and
    /// circuits in the circuit phase (at most 64).
    pub concurrency: usize,
    /// Requests on circuits and through the bare UDP relay (0 skips the
    /// circuit phase).
    pub circuit_requests: usize,
    /// Where to find `nightjar-node`.
    pub node_bin: Option<PathBuf>,
    /// Directory for the nodes' files.
    pub dir: Option<PathBuf>,
}

const ROUNDS: usize = 7;
const NOW_MS: u64 = 1_800_000_000_000;

fn onion_request(
    hops: &[(PublicKey, u32)],
    frame: &[u8],
) -> anyhow::Result<(OnionRequest, ReturnKeys)> {
    let (packet, keys) = layers::build(hops, frame)?;
    Ok((
        OnionRequest {
            ephemeral_key: packet.ephemeral_key,
            layer: packet.layer,
            hop: 0,
        },
        keys,
    ))
}

/// Per-operation CPU costs, ns.
struct InProcess {
    relay_ns: f64,
    framed_ns: f64,
    bound: HopBound,
    x25519_dalek_ns: f64,
    x25519_aws_lc_ns: f64,
    x25519_aws_lc_parse_each_ns: f64,
    kdf_ns: f64,
    open_rustcrypto_ns: f64,
    open_aws_lc_ns: f64,
    seal_rustcrypto_ns: f64,
    seal_aws_lc_ns: f64,
    next_hop_lookup_ns: f64,
    next_hop_key_parse_ns: f64,
    layer_len: usize,
}

fn in_process(iterations: usize, payload: usize) -> anyhow::Result<InProcess> {
    let relay = Identity::generate()?;
    let sink = Identity::generate()?;
    let sink_entry = NodeEntry {
        id: NodeId(sink.public_key()),
        addr: SocketAddr::from(([127, 0, 0, 1], 9)),
    };
    let relay_entry = NodeEntry {
        id: NodeId(relay.public_key()),
        addr: SocketAddr::from(([127, 0, 0, 1], 8)),
    };
    // The relay's core with a registry of the two nodes, as the driver has it.
    let registry = Registry::genesis("bench", vec![relay_entry, sink_entry]);
    let mut core = NodeCore::new(NodeKey::new(relay.public_key().to_bytes()));
    core.set_map(registry.swarm_map()?, []);

    let frame = vec![0x5a; payload];
    let (onion, _) = onion_request(
        &[(relay.public_key(), 10_000), (sink.public_key(), 0)],
        &frame,
    )?;
    let layer_len = onion.layer.len();
    // The next hop's answer: a blob as large as the layer this hop peeled.
    let answer = Response {
        node_time_ms: NOW_MS,
        body: ResponseBody::Onion(vec![0xa5; layer_len]),
    };
    let max_timeout = Duration::from_secs(45);
    let per_round = (iterations / ROUNDS).max(1);

    let relay_op = |core: &NodeCore| -> anyhow::Result<()> {
        let s = step(&relay, NOW_MS, &onion, max_timeout, |k| {
            core.registered_node(k)
        });
        let OnionStep::Forward { reply, onion, .. } = s else {
            bail!("the relay did not forward: {s:?}");
        };
        black_box(&onion);
        black_box(wrap_relayed(NOW_MS, reply, &answer));
        Ok(())
    };
    let frame_in = Request::Onion(onion.clone()).to_frame();
    let answer_frame = answer.to_frame();
    let pre = Prechecker::new(relay.clone(), Arc::new(Ed25519));
    let own = nightjar_wire::NodeKey::new(relay.public_key().to_bytes());
    let framed_op = |core: &mut NodeCore| -> anyhow::Result<()> {
        let req = Request::from_frame(black_box(&frame_in))?;
        let checked = pre.check(NOW_MS, Ok(req));
        let nightjar_node::core::Action::Onion(layer) = core.handle(NOW_MS, None, checked) else {
            bail!("the core did not route the onion request");
        };
        let CheckedLayer::Route(layer) = *layer else {
            bail!("the relay was the destination");
        };
        let s = route(layer, &own, NOW_MS, max_timeout, |k| {
            core.registered_node(k)
        });
        let OnionStep::Forward { reply, onion, .. } = s else {
            bail!("the relay did not forward: {s:?}");
        };
        black_box(Request::Onion(onion).to_frame());
        let ans = Response::from_frame(black_box(&answer_frame))?;
        black_box(wrap_relayed(NOW_MS, reply, &ans).to_frame());
        Ok(())
    };

    // The primitives, each on its own, on the same bytes.
    let dalek = StaticX25519::of_identity(X25519Impl::Dalek, &relay)?;
    let aws = StaticX25519::of_identity(X25519Impl::AwsLc, &relay)?;
    let e = onion.ephemeral_key;
    let agree = |k: &StaticX25519| -> anyhow::Result<()> {
        black_box(k.agree(black_box(&e)).context("X25519 failed")?);
        Ok(())
    };
    let secret_scalar = {
        // Any scalar: the parse-each-time cost does not depend on which.
        let mut s = [0u8; 32];
        util::Rng::new(7).fill(&mut s);
        s
    };
    let shared = dalek.agree(&e).context("X25519 failed")?;
    let y = relay.x25519_public();
    let (req_key, resp_key) = bound::hop_kdf(&shared, &e, &y);
    let aad = bound::hop_aad(&e);
    let mut plain = vec![0u8; layer_len - 16];
    let mut plain2 = plain.clone();
    // The answer this hop seals: what `wrap_relayed` seals around the blob
    // (two header bytes, the blob, the tag).
    let mut response = vec![0u8; 2 + layer_len + 16];
    let mut response2 = response.clone();
    let sink_key = sink.public_key().to_bytes();
    let sink_node_key = NodeKey::new(sink_key);

    // The relay's path and every primitive, interleaved round by round so
    // that load from other work hits the relay and the bound alike.
    let core = std::cell::RefCell::new(core);
    let [
        relay_ns,
        framed_ns,
        x25519_dalek_ns,
        x25519_aws_lc_ns,
        x25519_aws_lc_parse_each_ns,
        kdf_ns,
        open_rustcrypto_ns,
        open_aws_lc_ns,
        seal_rustcrypto_ns,
        seal_aws_lc_ns,
        next_hop_lookup_ns,
        next_hop_key_parse_ns,
    ] = interleaved(
        ROUNDS,
        per_round,
        [
            &mut || relay_op(&core.borrow()),
            &mut || framed_op(&mut core.borrow_mut()),
            &mut || agree(&dalek),
            &mut || agree(&aws),
            &mut || {
                black_box(
                    bound::x25519_aws_lc(black_box(&secret_scalar), &e).context("X25519 failed")?,
                );
                Ok(())
            },
            &mut || {
                black_box(bound::hop_kdf(black_box(&shared), &e, &y));
                Ok(())
            },
            &mut || {
                bound::aead_open(
                    AeadImpl::RustCrypto,
                    &req_key,
                    &aad,
                    black_box(&onion.layer),
                    &mut plain,
                )?;
                Ok(())
            },
            &mut || {
                bound::aead_open(
                    AeadImpl::AwsLc,
                    &req_key,
                    &aad,
                    black_box(&onion.layer),
                    &mut plain2,
                )?;
                Ok(())
            },
            &mut || {
                bound::aead_seal(
                    AeadImpl::RustCrypto,
                    &resp_key,
                    &aad,
                    black_box(&mut response),
                )?;
                Ok(())
            },
            &mut || {
                bound::aead_seal(AeadImpl::AwsLc, &resp_key, &aad, black_box(&mut response2))?;
                Ok(())
            },
            &mut || {
                black_box(
                    core.borrow()
                        .registered_node(black_box(&sink_node_key))
                        .context("lookup")?,
                );
                Ok(())
            },
            &mut || {
                black_box(PublicKey::from_bytes(black_box(&sink_key))?);
                Ok(())
            },
        ],
    )?;

    // The bound: the fastest of each primitive, added up.
    let bound = HopBound::from_measured(
        &[
            (X25519Impl::Dalek, x25519_dalek_ns),
            (X25519Impl::AwsLc, x25519_aws_lc_ns),
        ],
        kdf_ns,
        &[
            (AeadImpl::RustCrypto, open_rustcrypto_ns),
            (AeadImpl::AwsLc, open_aws_lc_ns),
        ],
        &[
            (AeadImpl::RustCrypto, seal_rustcrypto_ns),
            (AeadImpl::AwsLc, seal_aws_lc_ns),
        ],
    )
    .context(
        "a primitive measured 0 ns per call: too few --iterations for the CPU clock to register",
    )?;
    Ok(InProcess {
        relay_ns,
        framed_ns,
        bound,
        x25519_dalek_ns,
        x25519_aws_lc_ns,
        x25519_aws_lc_parse_each_ns,
        kdf_ns,
        open_rustcrypto_ns,
        open_aws_lc_ns,
        seal_rustcrypto_ns,
        seal_aws_lc_ns,
        next_hop_lookup_ns,
        next_hop_key_parse_ns,
        layer_len,
    })
}

/// Result of the networked phase.
struct Networked {
    layer_bytes: usize,
    relayed: usize,
    failed: usize,
    relay_cpu: f64,
    wall: Duration,
    /// What the generator's connections to the relay carried during the
    /// timed run (QUIC's own counters).
    link: LinkCounts,
}

/// QUIC datagrams and UDP system calls on the generator's connections to the
/// relay, summed over them: the relay received what the generator sent and
/// sent what it received on this link.
#[derive(Default, Clone, Copy)]
struct LinkCounts {
    datagrams_out: u64,
    datagrams_in: u64,
    send_calls: u64,
    recv_calls: u64,
    ack_frames_out: u64,
    ack_frames_in: u64,
}

impl LinkCounts {
    fn of(conns: &[quinn::Connection]) -> LinkCounts {
        conns.iter().fold(LinkCounts::default(), |acc, c| {
            let s = c.stats();
            LinkCounts {
                datagrams_out: acc.datagrams_out + s.udp_tx.datagrams,
                datagrams_in: acc.datagrams_in + s.udp_rx.datagrams,
                send_calls: acc.send_calls + s.udp_tx.ios,
                recv_calls: acc.recv_calls + s.udp_rx.ios,
                ack_frames_out: acc.ack_frames_out + s.frame_tx.acks,
                ack_frames_in: acc.ack_frames_in + s.frame_rx.acks,
            }
        })
    }

    fn since(self, before: LinkCounts) -> LinkCounts {
        LinkCounts {
            datagrams_out: self.datagrams_out.saturating_sub(before.datagrams_out),
            datagrams_in: self.datagrams_in.saturating_sub(before.datagrams_in),
            send_calls: self.send_calls.saturating_sub(before.send_calls),
            recv_calls: self.recv_calls.saturating_sub(before.recv_calls),
            ack_frames_out: self.ack_frames_out.saturating_sub(before.ack_frames_out),
            ack_frames_in: self.ack_frames_in.saturating_sub(before.ack_frames_in),
        }
    }
}

async fn networked(args: &Args) -> anyhow::Result<Networked> {
    let bin = NodeBinary::find(args.node_bin.as_deref())?;
    let tmp = util::bench_dir(args.dir.clone())?;
    let registry_path = tmp.path().join("registry.toml");
    util::empty_registry(&registry_path)?;
    let relay_id = Identity::generate()?;
    let relay_key = relay_id.public_key();
    // The sink runs in this process; the relay in its own, so its CPU time
    // can be read alone. Both bind port 0; the registry lists the ports
    // they bound.
    let sink = nightjar_node::start(
        util::bench_config(
            util::ANY_PORT,
            tmp.path().join("sink"),
            Some(registry_path.clone()),
        ),
        Identity::generate()?,
    )
    .await?;
    let relay = util::launch(
        &bin,
        &util::bench_config(
            util::ANY_PORT,
            tmp.path().join("relay"),
            Some(registry_path.clone()),
        ),
        &relay_id,
    )?
    .start()
    .await?;
    let relay_entry = util::entry(relay_key, relay.addr());
    let sink_entry = util::entry(sink.node_key, sink.listen);
    util::publish_registry(&registry_path, &[relay_entry.clone(), sink_entry.clone()]).await?;

    // Build every packet first: the generator's CPU is not the relay's, but
    // on two shared cores it would slow the relay down.
    // The sink answers `info`; its frame fits the smallest bucket, so the
    // relay's layer is as large as in process for payloads up to 1020 bytes.
    let frame = Request::Info.to_frame();
    let hops = [(relay_entry.id.0, 10_000u32), (sink_entry.id.0, 0u32)];
    let warmup = 20.min(args.requests.max(1));
    let total = args.requests + warmup;
    let mut packets = Vec::with_capacity(total);
    for _ in 0..total {
        let (o, keys) = onion_request(&hops, &frame)?;
        packets.push((Request::Onion(o), keys));
    }
    let layer_bytes = match packets.first() {
        Some((Request::Onion(o), _)) => o.layer.len(),
        _ => 0,
    };
    let packets = Arc::new(packets);

    let endpoint = nightjar_transport::client_endpoint(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let conns_n = args.concurrency.clamp(1, 4);
    let mut conns = Vec::with_capacity(conns_n);
    for _ in 0..conns_n {
        conns.push(
            nightjar_transport::connect(&endpoint, relay_entry.addr, &relay_entry.id.0).await?,
        );
    }

    let run = |range: std::ops::Range<usize>, concurrency: usize| {
        let packets = packets.clone();
        let conns = conns.clone();
        async move {
            let next = Arc::new(AtomicUsize::new(range.start));
            let mut tasks = tokio::task::JoinSet::new();
            for t in 0..concurrency {
                let conn = conns[t % conns.len()].clone();
                let packets = packets.clone();
                let next = next.clone();
                let end = range.end;
                tasks.spawn(async move {
                    let (mut ok, mut failed) = (0usize, 0usize);
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= end {
                            break;
                        }
                        let Some((req, keys)) = packets.get(i) else {
                            break;
                        };
                        match nightjar_transport::request(&conn, req, Duration::from_secs(30)).await
                        {
                            Ok(Response {
                                body: ResponseBody::Onion(blob),
                                ..
                            }) => match keys.open(&blob).map(|f| Response::from_frame(&f)) {
                                Ok(Ok(Response {
                                    body: ResponseBody::Info { .. },
                                    ..
                                })) => ok += 1,
                                _ => failed += 1,
                            },
                            _ => failed += 1,
                        }
                    }
                    (ok, failed)
                });
            }
            let (mut ok, mut failed) = (0, 0);
            while let Some(r) = tasks.join_next().await {
                let (o, f) = r?;
                ok += o;
                failed += f;
            }
            Ok::<_, anyhow::Error>((ok, failed))
        }
    };
    // Warm up: the relay's pooled connection to the sink, caches.
    let (warm_ok, _) = run(0..warmup, 1).await?;
    if warm_ok == 0 {
        bail!(
            "no onion request made it through the relay; see {}",
            relay.log_path().display()
        );
    }
    let link0 = LinkCounts::of(&conns);
    let cpu0 = relay.cpu_seconds()?;
    let t0 = Instant::now();
    let (relayed, failed) = run(warmup..total, args.concurrency.max(1)).await?;
    let wall = t0.elapsed();
    let relay_cpu = relay.cpu_seconds()? - cpu0;
    let link = LinkCounts::of(&conns).since(link0);
    endpoint.close(0u32.into(), b"done");
    drop(relay);
    sink.shutdown().await;
    Ok(Networked {
        layer_bytes,
        relayed,
        failed,
        relay_cpu,
        wall,
        link,
    })
}

/// Run the benchmark and print its JSON.
pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.iterations == 0 {
        bail!("--iterations must be positive");
    }
    if args.payload > layers::MAX_REQUEST_FRAME_LEN {
        bail!(
            "--payload must be at most {} bytes",
            layers::MAX_REQUEST_FRAME_LEN
        );
    }
    let p = in_process(args.iterations, args.payload)?;
    let per_sec = |ns: f64| if ns > 0.0 { 1e9 / ns } else { 0.0 };
    let hops = per_sec(p.relay_ns);
    let bound_ns = p.bound.ns();
    let bound_rate = per_sec(bound_ns);
    let mut out = json!({
        "bench": "onion-hop",
        "iterations": args.iterations,
        "payload": args.payload,
        "layer_bytes": p.layer_len,
        "hops_per_cpu_sec": hops,
        "framed_hops_per_cpu_sec": per_sec(p.framed_ns),
        "bound_per_cpu_sec": bound_rate,
        "ratio": hops / bound_rate.max(f64::MIN_POSITIVE),
        "ratio_framed": per_sec(p.framed_ns) / bound_rate.max(f64::MIN_POSITIVE),
        "bound_x25519": format!("{:?}", p.bound.x25519.0),
        "bound_aead_open": format!("{:?}", p.bound.open.0),
        "bound_aead_seal": format!("{:?}", p.bound.seal.0),
        "x25519_dalek_us": p.x25519_dalek_ns / 1e3,
        "x25519_aws_lc_us": p.x25519_aws_lc_ns / 1e3,
        "x25519_aws_lc_parse_each_us": p.x25519_aws_lc_parse_each_ns / 1e3,
        "kdf_us": p.kdf_ns / 1e3,
        "aead_open_rustcrypto_us": p.open_rustcrypto_ns / 1e3,
        "aead_open_aws_lc_us": p.open_aws_lc_ns / 1e3,
        "aead_seal_rustcrypto_us": p.seal_rustcrypto_ns / 1e3,
        "aead_seal_aws_lc_us": p.seal_aws_lc_ns / 1e3,
        "next_hop_lookup_us": p.next_hop_lookup_ns / 1e3,
        "next_hop_key_parse_us": p.next_hop_key_parse_ns / 1e3,
        "relay_hop_us": p.relay_ns / 1e3,
        "framed_hop_us": p.framed_ns / 1e3,
        "bound_hop_us": bound_ns / 1e3,
    });
    eprintln!(
        "in process: {:.0} hops per CPU-second ({:.1} µs; {:.1} µs with framing) against a bound of \
         {:.0} ({:.1} µs: X25519 {:?}, KDF, open {:?}, seal {:?}, each timed alone): ratio {:.2}",
        hops,
        p.relay_ns / 1e3,
        p.framed_ns / 1e3,
        bound_rate,
        bound_ns / 1e3,
        p.bound.x25519.0,
        p.bound.open.0,
        p.bound.seal.0,
        hops / bound_rate.max(f64::MIN_POSITIVE),
    );
    eprintln!(
        "  X25519: x25519-dalek {:.1} µs, aws-lc-rs {:.1} µs (static key; {:.1} µs parsing the key each time); \
         KDF {:.2} µs; open {} B: RustCrypto {:.2} µs, aws-lc-rs {:.2} µs; next-hop lookup {:.1} µs (of which parsing the key {:.1} µs)",
        p.x25519_dalek_ns / 1e3,
        p.x25519_aws_lc_ns / 1e3,
        p.x25519_aws_lc_parse_each_ns / 1e3,
        p.kdf_ns / 1e3,
        p.layer_len,
        p.open_rustcrypto_ns / 1e3,
        p.open_aws_lc_ns / 1e3,
        p.next_hop_lookup_ns / 1e3,
        p.next_hop_key_parse_ns / 1e3,
    );
    if args.requests > 0 {
        let n = networked(&args).await?;
        let relay_rate = if n.relay_cpu > 0.0 {
            n.relayed as f64 / n.relay_cpu
        } else {
            0.0
        };
        let wall_rate = n.relayed as f64 / n.wall.as_secs_f64().max(f64::MIN_POSITIVE);
        out["requests"] = json!(args.requests);
        out["concurrency"] = json!(args.concurrency);
        out["networked_layer_bytes"] = json!(n.layer_bytes);
        out["relayed"] = json!(n.relayed);
        out["failed"] = json!(n.failed);
        out["relay_cpu_sec"] = json!(n.relay_cpu);
        out["relay_hops_per_sec"] = json!(wall_rate);
        out["relay_hops_per_cpu_sec"] = json!(relay_rate);
        out["relay_cpu_us_per_hop"] = json!(1e6 / relay_rate.max(f64::MIN_POSITIVE));
        out["ratio_networked"] = json!(relay_rate / bound_rate.max(f64::MIN_POSITIVE));
        let per = |x: u64| x as f64 / (n.relayed.max(1) as f64);
        out["client_link_per_request"] = json!({
            "datagrams_to_relay": per(n.link.datagrams_out),
            "datagrams_from_relay": per(n.link.datagrams_in),
            "send_calls": per(n.link.send_calls),
            "recv_calls": per(n.link.recv_calls),
            "ack_frames_to_relay": per(n.link.ack_frames_out),
            "ack_frames_from_relay": per(n.link.ack_frames_in),
        });
        eprintln!(
            "  generator ↔ relay, per request: {:.2} datagrams to the relay, {:.2} from it \
             ({:.2} / {:.2} ACK frames), {:.2} send and {:.2} receive calls",
            per(n.link.datagrams_out),
            per(n.link.datagrams_in),
            per(n.link.ack_frames_out),
            per(n.link.ack_frames_in),
            per(n.link.send_calls),
            per(n.link.recv_calls),
        );
        eprintln!(
            "networked: the relay process forwarded {} onion requests ({} failed) at {:.0}/s, \
             {:.0} per CPU-second ({:.1} µs each): ratio {:.2}",
            n.relayed,
            n.failed,
            wall_rate,
            relay_rate,
            1e6 / relay_rate.max(f64::MIN_POSITIVE),
            relay_rate / bound_rate.max(f64::MIN_POSITIVE),
        );
        if args.circuit_requests > 0 {
            circuit_phase(&args, &n, &mut out).await?;
        }
    }
    println!("{out}");
    Ok(())
}

/// The circuit phase ([`circuit_hop`]) and its ratios against the bare UDP
/// relay and against the v1 relay of `n`, added to `out`.
async fn circuit_phase(
    args: &Args,
    n: &Networked,
    out: &mut serde_json::Value,
) -> anyhow::Result<()> {
    let run = circuit_hop::circuits(&circuit_hop::Args {
        requests: args.circuit_requests,
        concurrency: args.concurrency,
        node_bin: args.node_bin.clone(),
        dir: args.dir.clone(),
    })
    .await?;
    let c = run.figures;
    let (requests, concurrency) = (args.circuit_requests, args.concurrency);
    let b = tokio::task::spawn_blocking(move || circuit_hop::bare(requests, concurrency)).await??;
    let v1_us = n.relay_cpu * 1e6 / n.relayed.max(1) as f64;
    let ratio_udp = c.per_cpu_sec() / b.per_cpu_sec().max(f64::MIN_POSITIVE);
    let ratio_v1 = c.cpu_us_per_request() / v1_us.max(f64::MIN_POSITIVE);
    out["circuits"] = json!(concurrency.clamp(1, circuit_hop::MAX_CONCURRENCY));
    out["circuit_relayed"] = json!(c.relayed);
    out["circuit_failed"] = json!(c.failed);
    out["circuit_relay_cpu_sec"] = json!(c.relay_cpu);
    out["circuit_requests_per_sec"] = json!(c.per_sec());
    out["circuit_requests_per_relay_cpu_sec"] = json!(c.per_cpu_sec());
    out["circuit_relay_cpu_us_per_request"] = json!(c.cpu_us_per_request());
    out["circuit_cells_to_relay_per_request"] = json!(c.per_request(c.datagrams_out));
    out["circuit_cells_from_relay_per_request"] = json!(c.per_request(c.datagrams_in));
    out["circuit_requests"] = json!(requests);
    out["circuit_relay_context_switches_per_request"] =
        json!(c.relay_switches as f64 / c.relayed.max(1) as f64);
    out["circuit_generator_syscalls_per_request"] =
        json!(c.per_request(c.send_calls + c.recv_calls));
    out["udp_echo_relayed"] = json!(b.relayed);
    out["udp_echo_failed"] = json!(b.failed);
    out["udp_echo_relay_cpu_sec"] = json!(b.relay_cpu);
    out["udp_echo_requests_per_sec"] = json!(b.per_sec());
    out["udp_echo_requests_per_relay_cpu_sec"] = json!(b.per_cpu_sec());
    out["udp_echo_relay_cpu_us_per_request"] = json!(b.cpu_us_per_request());
    out["udp_echo_generator_syscalls_per_request"] =
        json!(b.per_request(b.send_calls + b.recv_calls));
    out["v1_relay_cpu_us_per_request"] = json!(v1_us);
    out["ratio_circuit_udp_echo"] = json!(ratio_udp);
    out["ratio_circuit_v1_cpu"] = json!(ratio_v1);
    eprintln!(
        "circuits: the relay process (pid {}) relayed {} requests ({} failed) on {} circuits at {:.0}/s, \
         {:.0} per CPU-second ({:.1} µs each; {:.2} cells in, {:.2} out per request)",
        run.relay_pid,
        c.relayed,
        c.failed,
        concurrency.clamp(1, circuit_hop::MAX_CONCURRENCY),
        c.per_sec(),
        c.per_cpu_sec(),
        c.cpu_us_per_request(),
        c.per_request(c.datagrams_out),
        c.per_request(c.datagrams_in),
    );
    eprintln!(
        "bare UDP relay (recvmmsg/sendmmsg, one ChaCha20-Poly1305 each way): {} requests ({} failed) at {:.0}/s, \
         {:.0} per CPU-second ({:.2} µs each): ratio_circuit_udp_echo {:.2}; \
         ratio_circuit_v1_cpu {:.2} ({:.1} µs on a circuit / {:.1} µs with v1 layers)",
        b.relayed,
        b.failed,
        b.per_sec(),
        b.per_cpu_sec(),
        b.cpu_us_per_request(),
        ratio_udp,
        ratio_v1,
        c.cpu_us_per_request(),
        v1_us,
    );
    Ok(())
}
