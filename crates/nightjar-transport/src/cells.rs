//! Circuit cells on the node's QUIC port.
//!
//! A node has one UDP port. Besides QUIC it receives *cells*: small datagrams
//! of per-account circuits that each relay decrypts and forwards without a
//! QUIC stream, task or handshake per request (PROTOCOL.md §11.10). QUIC v1
//! sets the fixed bit (0x40) of the first byte of every packet, so a datagram
//! whose first byte has that bit clear is a cell ([`is_cell`]); for that to
//! hold, every endpoint this crate makes refuses to negotiate
//! `grease_quic_bit`.
//!
//! [`server_endpoint_with_cells`] wraps the endpoint's socket: each received
//! batch is split into its datagrams (GRO segments included), cells go to a
//! [`CellHandler`] and the rest to quinn. The handler answers through a
//! [`CellSocket`], which sends from that same socket.
//!
//! This module does **not** know what a cell holds: it neither parses,
//! decrypts nor queues cells; that is the handler's job.

use std::fmt;
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use quinn::udp::{RecvMeta, Transmit, UdpSocketState};
use quinn::{AsyncUdpSocket, UdpPoller};

use crate::TransportError;

/// The QUIC v1 fixed bit of a packet's first byte (RFC 9000 §17); clear in a cell.
const FIXED_BIT: u8 = 0x40;

/// Largest UDP payload of one IPv4 datagram: a GSO send carries at most this
/// many bytes in all.
const MAX_UDP_PAYLOAD: usize = 65_507;

/// Receive batches holding only cells that one `poll_recv` handles before it
/// yields to the endpoint driver's other work (timers, sending), so a flood
/// of cells cannot starve QUIC.
const CELL_ONLY_BATCHES_PER_POLL: usize = 16;

/// Whether `datagram` is a circuit cell (first byte has bit 0x40 clear), not a QUIC packet. Empty → false.
pub fn is_cell(datagram: &[u8]) -> bool {
    datagram.first().is_some_and(|b| b & FIXED_BIT == 0)
}

/// What a node does with the cells its endpoint receives. Called on the endpoint's receive path
/// (quinn's endpoint driver task): must not block or await.
///
/// The endpoint's state is locked while these run, so they must not call
/// into the [`quinn::Endpoint`] or its connections either (that would
/// deadlock); send with the [`CellSocket`] given.
pub trait CellHandler: Send + Sync + 'static {
    /// One received cell (a GRO batch is split into its segments first).
    ///
    /// `from` is the sender; an IPv4 sender reaching a dual-stack IPv6
    /// socket is given as its plain IPv4 address.
    fn handle_cell(&self, from: SocketAddr, cell: &[u8], socket: &CellSocket);
    /// After each received batch that held at least one cell: flush whatever the handler queued.
    fn end_of_batch(&self, socket: &CellSocket);
}

/// Sends cells from the endpoint's own socket (so answers come back to the node's one port). Cheap to clone.
///
/// It sends straight from (a duplicate of) the endpoint's socket, without
/// going through the async runtime, so a send fails only when the kernel
/// refuses it. While a clone lives, the port stays bound.
#[derive(Clone)]
pub struct CellSocket {
    socket: Arc<std::net::UdpSocket>,
    state: Arc<UdpSocketState>,
    /// Whether the socket is IPv6 (then IPv4 destinations are sent to as
    /// IPv4-mapped addresses).
    ipv6: bool,
}

impl fmt::Debug for CellSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CellSocket")
            .field("local_addr", &self.socket.local_addr().ok())
            .field("max_segments", &self.max_segments())
            .finish_non_exhaustive()
    }
}

impl CellSocket {
    /// A cell socket over a duplicate of `socket` (which must already be bound).
    fn new(socket: &std::net::UdpSocket) -> io::Result<Self> {
        let socket = socket.try_clone()?;
        let state = UdpSocketState::new((&socket).into())?;
        let ipv6 = socket.local_addr()?.is_ipv6();
        Ok(Self {
            socket: Arc::new(socket),
            state: Arc::new(state),
            ipv6,
        })
    }

    /// `to` in the socket's address family.
    fn destination(&self, to: SocketAddr) -> SocketAddr {
        match to {
            SocketAddr::V4(v4) if self.ipv6 => {
                SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())
            }
            other => other,
        }
    }

    fn transmit(
        &self,
        destination: SocketAddr,
        contents: &[u8],
        segment_size: Option<usize>,
    ) -> io::Result<()> {
        self.state.try_send(
            (&*self.socket).into(),
            &Transmit {
                destination,
                ecn: None,
                contents,
                segment_size,
                src_ip: None,
            },
        )
    }

    /// Sends one cell now, without waiting: a full socket buffer is `Err(WouldBlock)` (the caller drops the cell,
    /// as UDP may).
    ///
    /// Any other error is the kernel's refusal (say, an unreachable network
    /// or a cell too large); the cell is not sent either.
    pub fn send(&self, to: SocketAddr, cell: &[u8]) -> io::Result<()> {
        self.transmit(self.destination(to), cell, None)
    }

    /// Sends `cells` (consecutive cells of `cell_len` bytes each; the last may be shorter) to one destination
    /// in as few system calls as the kernel allows (UDP GSO, up to `max_segments()` per call), else one per cell.
    ///
    /// One call also carries at most 65,507 bytes (a UDP datagram's limit),
    /// and `cell_len` should fit the path MTU: if the kernel refuses GSO,
    /// this resends those cells one per call and uses no GSO from then on.
    /// `cell_len` of 0 is `InvalidInput`. On an error part-way, the cells
    /// before the failed call were sent.
    pub fn send_segments(&self, to: SocketAddr, cells: &[u8], cell_len: usize) -> io::Result<()> {
        if cell_len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cell length must not be 0",
            ));
        }
        let destination = self.destination(to);
        let mut rest = cells;
        while !rest.is_empty() {
            let max = self.max_segments();
            let per_call = max.min(MAX_UDP_PAYLOAD / cell_len).max(1);
            let (chunk, tail) = rest.split_at(rest.len().min(per_call.saturating_mul(cell_len)));
            if chunk.len() <= cell_len {
                self.transmit(destination, chunk, None)?;
            } else if let Err(e) = self.transmit(destination, chunk, Some(cell_len)) {
                if self.max_segments() >= max {
                    return Err(e);
                }
                // quinn-udp saw the kernel refuse GSO (EIO/EINVAL) and
                // switched it off: send these cells one by one instead.
                for cell in chunk.chunks(cell_len) {
                    self.transmit(destination, cell, None)?;
                }
            }
            rest = tail;
        }
        Ok(())
    }

    /// Most cells one `send_segments` system call can carry (1 without GSO).
    pub fn max_segments(&self) -> usize {
        self.state.max_gso_segments().max(1)
    }

    /// The socket's local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }
}

/// The runtime's UDP socket with cells taken out of what it receives.
struct CellDemux {
    inner: Arc<dyn AsyncUdpSocket>,
    cells: CellSocket,
    handler: Arc<dyn CellHandler>,
}

impl fmt::Debug for CellDemux {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CellDemux")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// `addr` with an IPv4-mapped IPv6 address turned into plain IPv4.
fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => addr,
        },
        v4 => v4,
    }
}

/// Splits the first `n` received entries of `bufs`/`metas` into datagrams
/// (by `stride`), passes each cell with its sender to `on_cell`, and leaves
/// the QUIC datagrams for quinn: compacted within their buffer (so they
/// stay `stride` apart and only the last may be shorter) with `len`
/// adjusted, and entries left empty moved behind the others. Returns how
/// many entries hold QUIC data (a dense prefix) and whether any cell was seen.
///
/// Public for the `cell_demux` fuzz target only; a node reaches it through
/// [`server_endpoint_with_cells`].
pub fn demux_batch(
    n: usize,
    bufs: &mut [IoSliceMut<'_>],
    metas: &mut [RecvMeta],
    mut on_cell: impl FnMut(SocketAddr, &[u8]),
) -> (usize, bool) {
    let n = n.min(bufs.len()).min(metas.len());
    let mut kept = 0;
    let mut saw_cell = false;
    for i in 0..n {
        let (Some(buf), Some(meta)) = (bufs.get_mut(i), metas.get_mut(i)) else {
            break;
        };
        let buf: &mut [u8] = buf;
        let len = meta.len.min(buf.len());
        let stride = match meta.stride {
            0 => len,
            s => s.min(len),
        };
        let from = canonical(meta.addr);
        let mut read = 0;
        let mut write = 0;
        while read < len {
            let end = read.saturating_add(stride).min(len);
            let Some(segment) = buf.get(read..end) else {
                break;
            };
            if is_cell(segment) {
                saw_cell = true;
                on_cell(from, segment);
            } else {
                if write != read {
                    buf.copy_within(read..end, write);
                }
                write += end - read;
            }
            read = end;
        }
        if write > 0 {
            meta.len = write;
            if i != kept {
                bufs.swap(i, kept);
                metas.swap(i, kept);
            }
            kept += 1;
        }
    }
    (kept, saw_cell)
}

impl AsyncUdpSocket for CellDemux {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        self.inner.clone().create_io_poller()
    }

    fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<()> {
        self.inner.try_send(transmit)
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        for _ in 0..CELL_ONLY_BATCHES_PER_POLL {
            let n = ready!(self.inner.poll_recv(cx, bufs, meta))?;
            let (kept, saw_cell) = demux_batch(n, bufs, meta, |from, cell| {
                self.handler.handle_cell(from, cell, &self.cells);
            });
            if saw_cell {
                self.handler.end_of_batch(&self.cells);
            }
            if kept > 0 {
                return Poll::Ready(Ok(kept));
            }
        }
        // Only cells so far: let the driver do its other work, and come back
        // at once.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn max_transmit_segments(&self) -> usize {
        self.inner.max_transmit_segments()
    }

    fn max_receive_segments(&self) -> usize {
        self.inner.max_receive_segments()
    }

    fn may_fragment(&self) -> bool {
        self.inner.may_fragment()
    }
}

/// A server endpoint on `listen` (like `server_endpoint`), whose socket hands cells to `handler` and everything
/// else to quinn. Returns the endpoint and the socket to send cells from.
///
/// Must be called within a Tokio runtime (else `Bind` with "no Tokio runtime").
pub fn server_endpoint_with_cells(
    config: quinn::ServerConfig,
    listen: SocketAddr,
    handler: Arc<dyn CellHandler>,
) -> Result<(quinn::Endpoint, CellSocket), TransportError> {
    let bind_err = |source| TransportError::Bind {
        addr: listen,
        source,
    };
    let runtime = crate::tokio_runtime().map_err(bind_err)?;
    let socket = std::net::UdpSocket::bind(listen).map_err(bind_err)?;
    let cells = CellSocket::new(&socket).map_err(bind_err)?;
    let inner = runtime.wrap_udp_socket(socket).map_err(bind_err)?;
    let demux = Arc::new(CellDemux {
        inner,
        cells: cells.clone(),
        handler,
    });
    let endpoint = quinn::Endpoint::new_with_abstract_socket(
        crate::endpoint_config(),
        Some(config),
        demux,
        runtime,
    )
    .map_err(bind_err)?;
    Ok((endpoint, cells))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn is_cell_looks_at_bit_0x40_of_the_first_byte() {
        assert!(is_cell(&[0x00]));
        assert!(is_cell(&[0x3f, 0xff]));
        assert!(!is_cell(&[0x40]));
        assert!(!is_cell(&[0xc0, 0x00]));
        assert!(is_cell(&[0x80]));
        assert!(is_cell(&[0xbf]));
        assert!(!is_cell(&[0xff]));
        assert!(!is_cell(&[]));
    }

    fn meta(addr: &str, len: usize, stride: usize) -> RecvMeta {
        RecvMeta {
            addr: addr.parse().unwrap(),
            len,
            stride,
            ..RecvMeta::default()
        }
    }

    /// A GRO batch mixing cells and QUIC datagrams, an entry of cells only,
    /// and a lone QUIC datagram: quinn gets the QUIC datagrams, compacted
    /// and `stride` apart, as a dense prefix.
    #[test]
    fn demux_batch_splits_compacts_and_drops_empty_entries() {
        let mut a = vec![0u8; 64];
        // Segments of stride 4: QUIC, cell, QUIC, cell(short, 2 bytes).
        a[..14].copy_from_slice(&[0x41, 1, 2, 3, 0x01, 1, 1, 1, 0x42, 4, 5, 6, 0x02, 9]);
        let mut b = vec![0u8; 64];
        b[..6].copy_from_slice(&[0x03, 1, 2, 0x04, 3, 4]);
        let mut c = vec![0u8; 64];
        c[..3].copy_from_slice(&[0xc0, 7, 7]);
        let mut d = vec![0u8; 64];
        let mut bufs = [
            IoSliceMut::new(&mut a),
            IoSliceMut::new(&mut b),
            IoSliceMut::new(&mut c),
            IoSliceMut::new(&mut d),
        ];
        let mut metas = [
            meta("127.0.0.1:1", 14, 4),
            meta("[::ffff:127.0.0.2]:2", 6, 3),
            meta("127.0.0.3:3", 3, 3),
            RecvMeta::default(),
        ];
        let mut cells = Vec::new();
        let (kept, saw) = demux_batch(3, &mut bufs, &mut metas, |from, cell| {
            cells.push((from, cell.to_vec()));
        });
        assert!(saw);
        assert_eq!(kept, 2);
        let one: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let two: SocketAddr = "127.0.0.2:2".parse().unwrap();
        assert_eq!(
            cells,
            vec![
                (one, vec![0x01, 1, 1, 1]),
                (one, vec![0x02, 9]),
                (two, vec![0x03, 1, 2]),
                (two, vec![0x04, 3, 4]),
            ]
        );
        assert_eq!(metas[0].len, 8);
        assert_eq!(metas[0].stride, 4);
        assert_eq!(&bufs[0][..8], &[0x41, 1, 2, 3, 0x42, 4, 5, 6]);
        assert_eq!(metas[1].len, 3);
        assert_eq!(metas[1].addr, "127.0.0.3:3".parse().unwrap());
        assert_eq!(&bufs[1][..3], &[0xc0, 7, 7]);
    }

    #[test]
    fn demux_batch_survives_odd_metas() {
        let mut a = vec![0x41u8; 8];
        let mut b = vec![0x01u8; 4];
        let mut bufs = [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)];
        // Stride 0, a length beyond the buffer, and more entries claimed
        // than exist.
        let mut metas = [meta("127.0.0.1:1", 100, 0), meta("127.0.0.1:1", 4, 0)];
        let mut seen = 0;
        let (kept, saw) = demux_batch(5, &mut bufs, &mut metas, |_, cell| {
            assert_eq!(cell, &[1, 1, 1, 1]);
            seen += 1;
        });
        assert_eq!((kept, saw, seen), (1, true, 1));
        assert_eq!(metas[0].len, 8);
    }

    #[test]
    fn demux_batch_of_only_quic_keeps_everything_in_place() {
        let mut a = vec![0x40u8, 1, 2, 0x50, 3];
        let mut bufs = [IoSliceMut::new(&mut a)];
        let mut metas = [meta("127.0.0.1:1", 5, 3)];
        let (kept, saw) = demux_batch(1, &mut bufs, &mut metas, |_, _| panic!("no cells"));
        assert_eq!((kept, saw), (1, false));
        assert_eq!(metas[0].len, 5);
        assert_eq!(&bufs[0][..5], &[0x40, 1, 2, 0x50, 3]);
    }
    /// Random batches against a plain reference: split each entry by its
    /// stride, cells out in order, the rest kept per entry in order.
    #[test]
    fn demux_batch_matches_a_reference_on_random_batches() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |bound: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % bound as u64) as usize
        };
        for _ in 0..2000 {
            let entries = next(6);
            let mut storage: Vec<Vec<u8>> = Vec::new();
            let mut metas = Vec::new();
            let mut want_cells = Vec::new();
            let mut want_kept = Vec::new();
            for e in 0..entries {
                let len = next(120);
                let stride = next(40);
                let mut buf: Vec<u8> = (0..len + next(3)).map(|_| next(256) as u8).collect();
                let step = if stride == 0 { len.max(1) } else { stride };
                let from: SocketAddr = format!("127.0.0.{}:{}", e + 1, 1000 + e).parse().unwrap();
                let mut kept = Vec::new();
                for start in (0..len).step_by(step) {
                    // Make about half the segments cells.
                    buf[start] = if next(2) == 0 {
                        buf[start] & !0x40
                    } else {
                        buf[start] | 0x40
                    };
                    let seg = buf[start..(start + step).min(len)].to_vec();
                    if is_cell(&seg) {
                        want_cells.push((from, seg));
                    } else {
                        kept.extend_from_slice(&seg);
                    }
                }
                if !kept.is_empty() {
                    want_kept.push((from, stride, kept));
                }
                storage.push(buf);
                metas.push(meta(&from.to_string(), len, stride));
            }
            let mut bufs: Vec<IoSliceMut<'_>> =
                storage.iter_mut().map(|b| IoSliceMut::new(b)).collect();
            let mut cells = Vec::new();
            let (kept, saw) = demux_batch(entries, &mut bufs, &mut metas, |from, cell| {
                cells.push((from, cell.to_vec()));
            });
            assert_eq!(cells, want_cells);
            assert_eq!(saw, !want_cells.is_empty());
            let got: Vec<_> = (0..kept)
                .map(|i| {
                    (
                        metas[i].addr,
                        metas[i].stride,
                        bufs[i][..metas[i].len].to_vec(),
                    )
                })
                .collect();
            assert_eq!(got, want_kept);
        }
    }
}
