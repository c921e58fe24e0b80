//! `cell_demux`: the split a node makes of every batch its one UDP socket
//! receives (`nightjar_transport::cells::demux_batch`): GRO batches cut by
//! their stride, circuit cells handed out with their (IPv4-unmapped)
//! sender, QUIC datagrams compacted for quinn. The fuzzer's bytes describe
//! a batch; the split is checked against a plain reference.
//!
//! Input: one flag byte (bit 0: claim one entry more than there are), then
//! up to [`MAX_ENTRIES`] entries, each a 5-byte header — the claimed length
//! (big-endian u16, below [`MAX_ENTRY_LEN`]), the stride (big-endian u16,
//! below 2,048), a flag byte (bit 0: the sender is an IPv4-mapped IPv6
//! address; bits 1–2: zero bytes of spare room after the data) — and up to
//! that many bytes of data (fewer if the input ends: the claim then exceeds
//! the buffer, as a lying `len` would).

use std::io::IoSliceMut;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use nightjar_transport::cells::demux_batch;
use nightjar_transport::is_cell;
use quinn::udp::RecvMeta;

/// Most entries of one batch.
pub const MAX_ENTRIES: usize = 8;

/// Claimed lengths are taken modulo this (a GRO batch is at most 64 KiB;
/// smaller keeps inputs short).
pub const MAX_ENTRY_LEN: usize = 4096;

/// One received entry as the input describes it.
struct Entry {
    claimed: usize,
    stride: usize,
    mapped: bool,
    buf: Vec<u8>,
    port: u16,
}

fn entries(data: &[u8]) -> (bool, Vec<Entry>) {
    let Some((&flags, mut rest)) = data.split_first() else {
        return (false, Vec::new());
    };
    let mut out = Vec::new();
    while out.len() < MAX_ENTRIES {
        let Some((header, tail)) = rest.split_first_chunk::<5>() else {
            break;
        };
        let claimed = usize::from(u16::from_be_bytes([header[0], header[1]])) % MAX_ENTRY_LEN;
        let stride = usize::from(u16::from_be_bytes([header[2], header[3]])) % 2048;
        let take = claimed.min(tail.len());
        let (content, tail) = tail.split_at(take);
        let mut buf = content.to_vec();
        buf.resize(take + usize::from((header[4] >> 1) & 3), 0);
        out.push(Entry {
            claimed,
            stride,
            mapped: header[4] & 1 == 1,
            buf,
            port: 1000 + out.len() as u16,
        });
        rest = tail;
    }
    (flags & 1 == 1, out)
}

/// Whether the batch `data` describes holds at least one circuit cell (the
/// replay test's meaning of a `valid-` seed).
pub fn cell_demux_has_cell(data: &[u8]) -> bool {
    let (_, entries) = entries(data);
    entries.iter().any(|e| {
        let len = e.claimed.min(e.buf.len());
        segments(len, e.stride).any(|(a, b)| e.buf.get(a..b).is_some_and(is_cell))
    })
}

/// The datagrams of an entry of `len` bytes cut every `stride` (0: one).
fn segments(len: usize, stride: usize) -> impl Iterator<Item = (usize, usize)> {
    let step = if stride == 0 { len.max(1) } else { stride };
    (0..len)
        .step_by(step)
        .map(move |a| (a, a.saturating_add(step).min(len)))
}

/// The fuzz target's body: splits the batch and checks it against the
/// reference (cells in order with their unmapped sender; per entry the QUIC
/// datagrams in order, same sender and stride, entries left empty dropped).
pub fn cell_demux(data: &[u8]) {
    let (claim_more, mut entries) = entries(data);
    let mut want_cells = Vec::new();
    let mut want_kept = Vec::new();
    let mut metas = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let host = Ipv4Addr::new(127, 0, 0, 1 + i as u8);
        let addr = if e.mapped {
            SocketAddr::new(IpAddr::V6(host.to_ipv6_mapped()), e.port)
        } else {
            SocketAddr::new(IpAddr::V4(host), e.port)
        };
        let len = e.claimed.min(e.buf.len());
        let mut kept = Vec::new();
        for (a, b) in segments(len, e.stride) {
            let Some(segment) = e.buf.get(a..b) else {
                continue;
            };
            if is_cell(segment) {
                want_cells.push((SocketAddr::new(IpAddr::V4(host), e.port), segment.to_vec()));
            } else {
                kept.extend_from_slice(segment);
            }
        }
        if !kept.is_empty() {
            want_kept.push((addr, e.stride, kept));
        }
        metas.push(RecvMeta {
            addr,
            len: e.claimed,
            stride: e.stride,
            ..RecvMeta::default()
        });
    }
    let n = entries.len() + usize::from(claim_more);
    let mut bufs: Vec<IoSliceMut<'_>> = entries
        .iter_mut()
        .map(|e| IoSliceMut::new(&mut e.buf))
        .collect();
    let mut cells = Vec::new();
    let (kept, saw) = demux_batch(n, &mut bufs, &mut metas, |from, cell| {
        cells.push((from, cell.to_vec()));
    });
    assert_eq!(cells, want_cells, "the cells, in order, with their senders");
    assert_eq!(saw, !want_cells.is_empty());
    let got: Vec<(SocketAddr, usize, Vec<u8>)> = (0..kept)
        .map(|i| {
            let (Some(meta), Some(buf)) = (metas.get(i), bufs.get(i)) else {
                panic!("kept {kept} entries of {}", metas.len());
            };
            let Some(bytes) = buf.get(..meta.len) else {
                panic!("entry {i} claims {} bytes of {}", meta.len, buf.len());
            };
            (meta.addr, meta.stride, bytes.to_vec())
        })
        .collect();
    assert_eq!(got, want_kept, "the QUIC datagrams, compacted per entry");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mixed_batch_splits_as_the_reference_does() {
        // Entry 1: stride 4, QUIC then cell; entry 2 (mapped sender): one cell.
        let mut data = vec![1];
        data.extend_from_slice(&[0, 8, 0, 4, 0b010]);
        data.extend_from_slice(&[0x41, 1, 2, 3, 0x01, 1, 1, 1]);
        data.extend_from_slice(&[0, 3, 0, 0, 1]);
        data.extend_from_slice(&[0x02, 9, 9]);
        assert!(cell_demux_has_cell(&data));
        cell_demux(&data);
        assert!(!cell_demux_has_cell(&[0, 0, 2, 0, 0, 0, 0x40, 0x41]));
        cell_demux(&[0, 0, 2, 0, 0, 0, 0x40, 0x41]);
        cell_demux(&[]);
        cell_demux(&[0, 0xff, 0xff, 0, 1, 7]);
    }
}
