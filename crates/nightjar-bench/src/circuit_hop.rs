//! The circuit phase of `onion-hop`: what a circuit relay costs per
//! relayed request, against a bare UDP relay of the same bytes with the
//! same symmetric crypto, both measured in the same run.
//!
//! 1. Circuits: one **relay** and one **exit** `nightjar-node` process
//!    (registry listing both); `concurrency` circuits generator → relay →
//!    exit built with `build_create`, then `requests` `info` requests, one
//!    1,232-byte forward cell each, `concurrency` in flight (one per
//!    circuit); every answer is opened, reassembled and parsed. The relay's
//!    CPU comes from `/proc/<pid>/stat`.
//! 2. Bare: a relay thread in this process doing what a circuit relay does
//!    per request minus the protocol: receive forward cells in batches
//!    (`recvmmsg`), one ChaCha20-Poly1305 open of the layer under a cached
//!    HChaCha20 subkey ([`SubkeyAead`]), send them on in batches
//!    (`sendmmsg`) to an in-process exit that answers each with a cell of
//!    the same size; seal each answer once and send it back. Its CPU is its
//!    thread's CPU clock.
//!
//! Both are driven by the same generator ([`drive`]): one socket, its own
//! batching through [`mmsg`], every cell built before the timed run so that
//! the generator's CPU on the shared cores goes to opening answers only.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nightjar_crypto::OsRandom;
use nightjar_crypto::bound::SubkeyAead;
use nightjar_crypto::circuit::{
    Backward, CELL_BACKWARD, CELL_FORWARD, CELL_HEADER_LEN, CELL_LEN, Cell, CircuitId, CircuitKeys,
    FRAGMENT_HEADER_LEN, Payload, Reassembly, build_create, fragments, pad_request, unpad_response,
};
use nightjar_crypto::identity::Identity;
use nightjar_launch::{Launch, NodeBinary};
use nightjar_wire::{Request, Response, ResponseBody};

use crate::mmsg::{self, RecvBatch, ThreadClock};
use crate::util;

/// A relay accepts at most this many circuits from one address
/// (`nightjar_node::circuit::MAX_CIRCUITS_PER_SOURCE`): the generator's
/// circuits.
pub const MAX_CONCURRENCY: usize = 64;

/// Requests per circuit sent before the timed run.
const WARMUP_PER_LANE: usize = 2;

/// No answer for this long ends a run; what is still in flight failed.
const STALL: Duration = Duration::from_secs(3);

/// How long the bare threads and the generator block in one receive.
const RECV_TIMEOUT: Duration = Duration::from_millis(50);

const TAG_LEN: usize = 16;

/// What one run through a relay measured.
#[derive(Clone, Copy, Debug, Default)]
pub struct Figures {
    /// Requests answered correctly.
    pub relayed: usize,
    /// Requests unanswered or answered wrongly.
    pub failed: usize,
    /// The relay's CPU seconds over the timed run.
    pub relay_cpu: f64,
    /// Wall time of the timed run.
    pub wall: Duration,
    /// Datagrams the generator sent to the relay.
    pub datagrams_out: usize,
    /// Datagrams the generator received from it.
    pub datagrams_in: usize,
    /// The generator's `sendmmsg` calls.
    pub send_calls: usize,
    /// The generator's `recvmmsg` calls.
    pub recv_calls: usize,
    /// Context switches of the relay's threads over the timed run (its
    /// wakeups; counted for the relay process only).
    pub relay_switches: u64,
}

impl Figures {
    /// Requests per relay CPU-second (0 when no CPU was measured).
    pub fn per_cpu_sec(&self) -> f64 {
        if self.relay_cpu > 0.0 {
            self.relayed as f64 / self.relay_cpu
        } else {
            0.0
        }
    }

    /// Requests per wall-clock second.
    pub fn per_sec(&self) -> f64 {
        self.relayed as f64 / self.wall.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    /// Relay CPU µs per request.
    pub fn cpu_us_per_request(&self) -> f64 {
        self.relay_cpu * 1e6 / self.relayed.max(1) as f64
    }

    /// `x` per answered request.
    pub fn per_request(&self, x: usize) -> f64 {
        x as f64 / self.relayed.max(1) as f64
    }
}

/// The requests of a run, cells built beforehand, and how answers are checked.
pub(crate) trait Load {
    /// The cells of `lane`'s next request (`None`: none left).
    fn next_request(&mut self, lane: usize) -> Option<Vec<Vec<u8>>>;
    /// A datagram from the relay: the lane it answers and, once the answer
    /// is complete, whether it was right.
    fn answer(&mut self, datagram: &[u8]) -> Option<(usize, Option<bool>)>;
}

/// Sends `quota[lane]` requests on each lane to `target`, one in flight per
/// lane, batching sends and receives; stops when all are answered or none
/// was for [`STALL`].
pub(crate) fn drive(
    socket: &UdpSocket,
    target: SocketAddr,
    load: &mut dyn Load,
    quota: &[usize],
) -> anyhow::Result<Figures> {
    let mut f = Figures::default();
    let mut left = quota.to_vec();
    let mut in_flight = 0usize;
    let mut out: Vec<Vec<u8>> = Vec::new();
    let take = |lane: usize, left: &mut [usize], out: &mut Vec<Vec<u8>>, load: &mut dyn Load| {
        if let Some(l) = left.get_mut(lane)
            && *l > 0
            && let Some(cells) = load.next_request(lane)
        {
            *l -= 1;
            out.extend(cells);
            return true;
        }
        false
    };
    for lane in 0..left.len() {
        if take(lane, &mut left, &mut out, load) {
            in_flight += 1;
        }
    }
    let mut batch = RecvBatch::default();
    let t0 = Instant::now();
    let mut progress = Instant::now();
    while in_flight > 0 {
        if !out.is_empty() {
            let msgs: Vec<(SocketAddr, &[u8])> =
                out.iter().map(|c| (target, c.as_slice())).collect();
            f.send_calls += mmsg::send(socket, &msgs).context("sending cells")?;
            f.datagrams_out += out.len();
            out.clear();
        }
        let n = mmsg::recv(socket, &mut batch).context("receiving answers")?;
        if n == 0 {
            if progress.elapsed() > STALL {
                f.failed += in_flight;
                break;
            }
            continue;
        }
        f.recv_calls += 1;
        f.datagrams_in += n;
        for (_, datagram) in batch.iter() {
            let Some((lane, Some(ok))) = load.answer(datagram) else {
                continue;
            };
            progress = Instant::now();
            in_flight = in_flight.saturating_sub(1);
            if ok {
                f.relayed += 1;
            } else {
                f.failed += 1;
            }
            if take(lane, &mut left, &mut out, load) {
                in_flight += 1;
            }
        }
    }
    f.wall = t0.elapsed();
    Ok(f)
}

/// `total` requests split over `lanes`, as even as they go.
pub(crate) fn split(total: usize, lanes: usize) -> Vec<usize> {
    (0..lanes)
        .map(|i| total / lanes + usize::from(i < total % lanes))
        .collect()
}

pub(crate) fn generator_socket() -> anyhow::Result<UdpSocket> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.set_read_timeout(Some(RECV_TIMEOUT))?;
    Ok(socket)
}

// ---------------------------------------------------------------------------
// Circuits through node processes.

/// One circuit of the generator.
struct Lane {
    id: CircuitId,
    keys: CircuitKeys,
    /// The next forward cell's sequence number.
    seq: u64,
    /// Requests made on this circuit so far.
    made: u32,
    parts: Option<Reassembly>,
}

/// The generator's circuits: each request's cells are built when it is
/// sent (its layers sealed, outside the measured node's CPU).
pub(crate) struct CircuitLoad {
    lanes: Vec<Lane>,
    /// The padded requests, taken in turn (cycling).
    padded: Vec<Vec<u8>>,
    /// The next one.
    next: usize,
    /// Whether an answer is the right one.
    accept: fn(&ResponseBody) -> bool,
}

impl CircuitLoad {
    /// Circuits that carry `info` requests.
    fn new(keys: Vec<CircuitKeys>) -> anyhow::Result<CircuitLoad> {
        CircuitLoad::with_requests(keys, &[Request::Info], |b| {
            matches!(b, ResponseBody::Info { .. })
        })
    }

    /// Circuits that carry `requests` in turn, answers checked by `accept`.
    pub(crate) fn with_requests(
        keys: Vec<CircuitKeys>,
        requests: &[Request],
        accept: fn(&ResponseBody) -> bool,
    ) -> anyhow::Result<CircuitLoad> {
        let padded = requests
            .iter()
            .map(|r| pad_request(&r.to_frame()))
            .collect::<Result<Vec<_>, _>>()?;
        if padded.is_empty() {
            bail!("a circuit load needs at least one request");
        }
        Ok(CircuitLoad {
            lanes: keys
                .into_iter()
                .enumerate()
                .map(|(i, keys)| Lane {
                    id: CircuitId(i as u64 + 1),
                    keys,
                    seq: 0,
                    made: 0,
                    parts: None,
                })
                .collect(),
            padded,
            next: 0,
            accept,
        })
    }
}

impl Load for CircuitLoad {
    fn next_request(&mut self, lane: usize) -> Option<Vec<Vec<u8>>> {
        let lane = self.lanes.get_mut(lane)?;
        lane.made += 1;
        let padded = self.padded.get(self.next % self.padded.len())?;
        self.next += 1;
        let mut cells = Vec::new();
        for x in fragments(lane.made, padded, lane.keys.payload_len()).ok()? {
            cells.push(lane.keys.forward_cell(lane.id, lane.seq, &x).ok()?);
            lane.seq += 1;
        }
        Some(cells)
    }

    fn answer(&mut self, datagram: &[u8]) -> Option<(usize, Option<bool>)> {
        let Ok(Cell::Backward {
            circuit,
            seq,
            layer,
        }) = Cell::parse(datagram)
        else {
            return None;
        };
        let index = usize::try_from(circuit.0).ok()?.checked_sub(1)?;
        let lane = self.lanes.get_mut(index)?;
        let x = match lane.keys.open_backward(seq, layer) {
            Ok(Backward::Payload(x)) => x,
            _ => return Some((index, Some(false))),
        };
        let chunk_len = lane.keys.payload_len() - FRAGMENT_HEADER_LEN;
        let done = match Payload::parse(&x) {
            Ok(Payload::Fragment {
                index: i,
                count,
                chunk,
                ..
            }) => {
                let parts = match lane.parts.as_mut() {
                    Some(p) => p,
                    None => lane.parts.insert(Reassembly::new(count, chunk_len).ok()?),
                };
                match parts.insert(i, count, chunk) {
                    Ok(None) => return Some((index, None)),
                    Ok(Some(joined)) => {
                        lane.parts = None;
                        unpad_response(&joined, count, chunk_len)
                            .ok()
                            .and_then(|f| Response::from_frame(&f).ok())
                            .is_some_and(|r| (self.accept)(&r.body))
                    }
                    Err(_) => false,
                }
            }
            _ => false,
        };
        Some((index, Some(done)))
    }
}

/// Builds `n` circuits relay → exit from `socket`: sends every `create` at
/// once and waits for each one's `created`.
pub(crate) fn build_circuits(
    socket: &UdpSocket,
    relay: SocketAddr,
    hops: &[nightjar_crypto::identity::PublicKey],
    n: usize,
) -> anyhow::Result<Vec<CircuitKeys>> {
    let mut keys = Vec::with_capacity(n);
    let mut creates = Vec::with_capacity(n);
    for i in 0..n {
        let (packet, k) = build_create(&mut OsRandom, hops)?;
        creates.push(packet.cell(CircuitId(i as u64 + 1)));
        keys.push(k);
    }
    let msgs: Vec<(SocketAddr, &[u8])> = creates.iter().map(|c| (relay, c.as_slice())).collect();
    mmsg::send(socket, &msgs).context("sending create cells")?;
    let mut created = vec![false; n];
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut batch = RecvBatch::default();
    while created.iter().any(|c| !c) {
        if Instant::now() > deadline {
            bail!(
                "{} of {n} circuits were not created within 20 s",
                created.iter().filter(|c| !**c).count()
            );
        }
        mmsg::recv(socket, &mut batch).context("receiving created cells")?;
        for (_, d) in batch.iter() {
            if let Ok(Cell::Backward {
                circuit,
                seq,
                layer,
            }) = Cell::parse(d)
                && let Some(i) = usize::try_from(circuit.0)
                    .ok()
                    .and_then(|c| c.checked_sub(1))
                && let (Some(k), Some(flag)) = (keys.get(i), created.get_mut(i))
                && let Ok(Backward::Payload(x)) = k.open_backward(seq, layer)
                && Payload::parse(&x) == Ok(Payload::Created)
            {
                *flag = true;
            }
        }
    }
    Ok(keys)
}

/// Settings of the circuit phase.
pub struct Args {
    /// Requests timed.
    pub requests: usize,
    /// Circuits, one request in flight on each.
    pub concurrency: usize,
    /// Where to find `nightjar-node`.
    pub node_bin: Option<PathBuf>,
    /// Directory for the nodes' files.
    pub dir: Option<PathBuf>,
}

/// The circuit run and the relay process's pid.
pub struct CircuitRun {
    /// The figures.
    pub figures: Figures,
    /// The relay's process ID (for `perf report --pid`).
    pub relay_pid: u32,
}

/// Circuits through a relay and an exit node process.
pub async fn circuits(args: &Args) -> anyhow::Result<CircuitRun> {
    let lanes = args.concurrency.clamp(1, MAX_CONCURRENCY);
    let bin = NodeBinary::find(args.node_bin.as_deref())?;
    let tmp = util::bench_dir(args.dir.clone())?;
    let registry_path = tmp.path().join("registry.toml");
    util::empty_registry(&registry_path)?;
    let relay_id = Identity::generate()?;
    let exit_id = Identity::generate()?;
    let launch = |name: &str, id: &Identity| {
        let config = util::bench_config(
            util::ANY_PORT,
            tmp.path().join(name),
            Some(registry_path.clone()),
        );
        util::launch(&bin, &config, id)
    };
    let launches = vec![launch("relay", &relay_id)?, launch("exit", &exit_id)?];
    let mut nodes = Launch::start_all(launches).await?;
    let (Some(exit), Some(relay)) = (nodes.pop(), nodes.pop()) else {
        bail!("two node processes were started");
    };
    let relay_entry = util::entry(relay_id.public_key(), relay.addr());
    let exit_entry = util::entry(exit_id.public_key(), exit.addr());
    util::publish_registry(&registry_path, &[relay_entry.clone(), exit_entry]).await?;
    let relay_pid = relay.pid();
    eprintln!(
        "circuits: relay process {relay_pid}, exit process {}",
        exit.pid()
    );
    let hops = [relay_id.public_key(), exit_id.public_key()];
    let requests = args.requests;
    let figures = tokio::task::spawn_blocking(move || -> anyhow::Result<Figures> {
        let socket = generator_socket()?;
        let keys = build_circuits(&socket, relay_entry.addr, &hops, lanes)?;
        let quota = split(requests, lanes);
        let mut load = CircuitLoad::new(keys)?;
        let warm = drive(
            &socket,
            relay_entry.addr,
            &mut load,
            &vec![WARMUP_PER_LANE; lanes],
        )?;
        if warm.relayed == 0 {
            bail!(
                "no request made it through the circuits; see {}",
                relay.log_path().display()
            );
        }
        let cpu0 = relay.cpu_seconds()?;
        let switches0 = util::context_switches(relay.pid())?;
        let mut f = drive(&socket, relay_entry.addr, &mut load, &quota)?;
        f.relay_cpu = relay.cpu_seconds()? - cpu0;
        f.relay_switches = util::context_switches(relay.pid())?.saturating_sub(switches0);
        drop(relay);
        drop(exit);
        Ok(f)
    })
    .await??;
    Ok(CircuitRun { figures, relay_pid })
}

// ---------------------------------------------------------------------------
// The bare UDP relay.

const AAD_FORWARD: [u8; 2] = [1, CELL_FORWARD];
const AAD_BACKWARD: [u8; 2] = [1, CELL_BACKWARD];

/// One direction's key of one bare circuit: the AEAD and the nonce suffix
/// base (`suffix XOR seq`, as circuits do).
struct DirKey {
    aead: SubkeyAead,
    suffix: u64,
}

impl DirKey {
    fn new(rng: &mut util::Rng) -> anyhow::Result<(DirKey, DirKey)> {
        let mut key = [0u8; 32];
        let mut prefix = [0u8; 16];
        rng.fill(&mut key);
        rng.fill(&mut prefix);
        let suffix = rng.next_u64();
        // Two instances of one key: the generator's and the relay's.
        Ok((
            DirKey {
                aead: SubkeyAead::new(&key, &prefix)?,
                suffix,
            },
            DirKey {
                aead: SubkeyAead::new(&key, &prefix)?,
                suffix,
            },
        ))
    }

    fn nonce(&self, seq: u64) -> [u8; 8] {
        (self.suffix ^ seq).to_be_bytes()
    }
}

/// The relay's keys of one bare circuit.
struct BareHop {
    forward: DirKey,
    backward: DirKey,
}

/// `type ‖ id ‖ seq` of a data cell, if it is one.
fn header(datagram: &[u8]) -> Option<(u8, u64, u64)> {
    let (&kind, rest) = datagram.split_first()?;
    let (id, rest) = rest.split_first_chunk::<8>()?;
    let (seq, _) = rest.split_first_chunk::<8>()?;
    Some((kind, u64::from_be_bytes(*id), u64::from_be_bytes(*seq)))
}

fn write_header(out: &mut [u8], kind: u8, id: u64, seq: u64) -> Option<()> {
    let h = out.get_mut(..CELL_HEADER_LEN)?;
    h[0] = kind;
    h[1..9].copy_from_slice(&id.to_be_bytes());
    h[9..].copy_from_slice(&seq.to_be_bytes());
    Some(())
}

/// The bare relay's work on one datagram into `out`: a forward cell opened
/// (one layer) for the exit, or an answer sealed (one layer) for the
/// generator. Returns where it goes and its length.
fn bare_step(
    hops: &[BareHop],
    prev: &mut [Option<SocketAddr>],
    exit: SocketAddr,
    from: SocketAddr,
    datagram: &[u8],
    out: &mut [u8],
) -> Option<(SocketAddr, usize)> {
    let (kind, id, seq) = header(datagram)?;
    let lane = usize::try_from(id).ok()?.checked_sub(1)?;
    let hop = hops.get(lane)?;
    let layer = datagram.get(CELL_HEADER_LEN..)?;
    match kind {
        CELL_FORWARD => {
            let len = datagram.len().checked_sub(TAG_LEN)?;
            write_header(out, CELL_FORWARD, id, seq)?;
            let dst = out.get_mut(CELL_HEADER_LEN..len)?;
            hop.forward
                .aead
                .open(&hop.forward.nonce(seq), &AAD_FORWARD, layer, dst)
                .ok()?;
            *prev.get_mut(lane)? = Some(from);
            Some((exit, len))
        }
        CELL_BACKWARD => {
            let len = datagram.len() + TAG_LEN;
            write_header(out, CELL_BACKWARD, id, seq)?;
            out.get_mut(CELL_HEADER_LEN..len - TAG_LEN)?
                .copy_from_slice(layer);
            let region = out.get_mut(CELL_HEADER_LEN..len)?;
            hop.backward
                .aead
                .seal(&hop.backward.nonce(seq), &AAD_BACKWARD, region)
                .ok()?;
            Some(((*prev.get(lane)?)?, len))
        }
        _ => None,
    }
}

/// The bare relay's loop: receive a batch, one AEAD operation per cell,
/// send the batch on; until `stop`.
fn bare_relay(
    socket: UdpSocket,
    exit: SocketAddr,
    hops: Vec<BareHop>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let mut batch = RecvBatch::default();
    let mut outs = vec![[0u8; mmsg::MAX_DATAGRAM]; mmsg::BATCH];
    let mut prev: Vec<Option<SocketAddr>> = vec![None; hops.len()];
    let mut to_send: Vec<(SocketAddr, usize)> = Vec::with_capacity(mmsg::BATCH);
    while !stop.load(Ordering::Relaxed) {
        if mmsg::recv(&socket, &mut batch).context("bare relay receive")? == 0 {
            continue;
        }
        to_send.clear();
        for ((from, datagram), out) in batch.iter().zip(outs.iter_mut()) {
            if let Some(t) = bare_step(&hops, &mut prev, exit, from, datagram, out) {
                to_send.push(t);
            }
        }
        let msgs: Vec<(SocketAddr, &[u8])> = to_send
            .iter()
            .zip(outs.iter())
            .map(|(&(to, len), buf)| (to, buf.get(..len).unwrap_or_default()))
            .collect();
        mmsg::send(&socket, &msgs).context("bare relay send")?;
    }
    Ok(())
}

/// The bare exit: answers each forward cell with a backward cell of the
/// same size (its bytes, retyped).
fn bare_exit(socket: UdpSocket, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    let mut batch = RecvBatch::default();
    let mut outs = vec![[0u8; mmsg::MAX_DATAGRAM]; mmsg::BATCH];
    while !stop.load(Ordering::Relaxed) {
        if mmsg::recv(&socket, &mut batch).context("bare exit receive")? == 0 {
            continue;
        }
        let mut msgs: Vec<(SocketAddr, &[u8])> = Vec::with_capacity(mmsg::BATCH);
        for ((from, datagram), out) in batch.iter().zip(outs.iter_mut()) {
            if let Some(o) = out.get_mut(..datagram.len()) {
                o.copy_from_slice(datagram);
                if let Some(k) = o.first_mut() {
                    *k = CELL_BACKWARD;
                }
                msgs.push((from, o));
            }
        }
        mmsg::send(&socket, &msgs).context("bare exit send")?;
    }
    Ok(())
}

/// The generator's side of the bare circuits.
struct BareLoad {
    lanes: Vec<BareLane>,
}

struct BareLane {
    id: u64,
    forward: DirKey,
    backward: DirKey,
    /// The next forward cell's sequence number.
    seq: u64,
    /// What every forward cell carries inside the relay's layer.
    plain: Vec<u8>,
    inner: Vec<u8>,
}

impl Load for BareLoad {
    /// A 1,232-byte forward cell: one layer sealed for the relay around
    /// the lane's random bytes.
    fn next_request(&mut self, lane: usize) -> Option<Vec<Vec<u8>>> {
        let lane = self.lanes.get_mut(lane)?;
        let mut cell = vec![0u8; CELL_LEN];
        write_header(&mut cell, CELL_FORWARD, lane.id, lane.seq)?;
        let layer = cell.get_mut(CELL_HEADER_LEN..)?;
        layer
            .get_mut(..lane.plain.len())?
            .copy_from_slice(&lane.plain);
        lane.forward
            .aead
            .seal(&lane.forward.nonce(lane.seq), &AAD_FORWARD, layer)
            .ok()?;
        lane.seq += 1;
        Some(vec![cell])
    }

    fn answer(&mut self, datagram: &[u8]) -> Option<(usize, Option<bool>)> {
        let (kind, id, seq) = header(datagram)?;
        let index = usize::try_from(id).ok()?.checked_sub(1)?;
        let lane = self.lanes.get_mut(index)?;
        let layer = datagram.get(CELL_HEADER_LEN..)?;
        let n = layer.len().checked_sub(TAG_LEN)?;
        lane.inner.resize(n, 0);
        let ok = kind == CELL_BACKWARD
            && datagram.len() == CELL_LEN
            && lane
                .backward
                .aead
                .open(
                    &lane.backward.nonce(seq),
                    &AAD_BACKWARD,
                    layer,
                    &mut lane.inner,
                )
                .is_ok();
        Some((index, Some(ok)))
    }
}

/// The bare UDP relay in a thread of this process, the same generator.
pub fn bare(requests: usize, concurrency: usize) -> anyhow::Result<Figures> {
    let lanes = concurrency.clamp(1, MAX_CONCURRENCY);
    let mut rng = util::Rng::new(0x6e69_6768_746a_6172);
    let mut hops = Vec::with_capacity(lanes);
    let mut gen_lanes = Vec::with_capacity(lanes);
    for i in 0..lanes {
        let (f_gen, f_relay) = DirKey::new(&mut rng)?;
        let (b_gen, b_relay) = DirKey::new(&mut rng)?;
        hops.push(BareHop {
            forward: f_relay,
            backward: b_relay,
        });
        let mut plain = vec![0u8; CELL_LEN - CELL_HEADER_LEN - TAG_LEN];
        rng.fill(&mut plain);
        gen_lanes.push(BareLane {
            id: i as u64 + 1,
            forward: f_gen,
            backward: b_gen,
            seq: 0,
            plain,
            inner: Vec::new(),
        });
    }
    let relay_socket = UdpSocket::bind("127.0.0.1:0")?;
    relay_socket.set_read_timeout(Some(RECV_TIMEOUT))?;
    let exit_socket = UdpSocket::bind("127.0.0.1:0")?;
    exit_socket.set_read_timeout(Some(RECV_TIMEOUT))?;
    let relay_addr = relay_socket.local_addr()?;
    let exit_addr = exit_socket.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let exit = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("bare-exit".into())
            .spawn(move || bare_exit(exit_socket, stop))?
    };
    let relay = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("bare-relay".into())
            .spawn(move || bare_relay(relay_socket, exit_addr, hops, stop))?
    };
    let result = (|| -> anyhow::Result<Figures> {
        let clock = ThreadClock::of(&relay).context("the bare relay's CPU clock")?;
        let socket = generator_socket()?;
        let quota = split(requests, lanes);
        let mut load = BareLoad { lanes: gen_lanes };
        let warm = drive(
            &socket,
            relay_addr,
            &mut load,
            &vec![WARMUP_PER_LANE; lanes],
        )?;
        if warm.relayed == 0 {
            bail!("no request made it through the bare relay");
        }
        let cpu0 = clock.seconds()?;
        let mut f = drive(&socket, relay_addr, &mut load, &quota)?;
        f.relay_cpu = clock.seconds()? - cpu0;
        Ok(f)
    })();
    stop.store(true, Ordering::Relaxed);
    let relay_done = relay
        .join()
        .map_err(|_| anyhow::anyhow!("the bare relay panicked"))?;
    let exit_done = exit
        .join()
        .map_err(|_| anyhow::anyhow!("the bare exit panicked"))?;
    let f = result?;
    relay_done?;
    exit_done?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn requests_split_evenly_over_lanes() {
        assert_eq!(split(10, 4), [3, 3, 2, 2]);
        assert_eq!(split(2, 4), [1, 1, 0, 0]);
        assert_eq!(split(0, 1), [0]);
    }

    #[test]
    fn the_bare_relay_relays_every_request() {
        let f = bare(200, 8).unwrap();
        assert_eq!(f.relayed, 200);
        assert_eq!(f.failed, 0);
        assert_eq!(f.datagrams_out, 200);
        assert_eq!(f.datagrams_in, 200);
    }
}
