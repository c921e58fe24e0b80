//! Batched UDP on IPv4 through libc (`recvmmsg`, `sendmmsg`) and a thread's
//! CPU clock (`pthread_getcpuclockid`), for the circuit load generator and
//! the bare UDP relay of `onion-hop`. The only module of this crate with
//! unsafe code: each call hands the kernel pointers into buffers this module
//! owns for the call's duration.
//!
//! Not for: IPv6, or anything but loopback benchmarks (no retries beyond a
//! blocking send, no ancillary data).

#![allow(unsafe_code)]

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::thread::JoinHandleExt;
use std::thread::JoinHandle;

/// Largest datagram a [`RecvBatch`] slot holds.
pub const MAX_DATAGRAM: usize = 2048;

/// Datagrams per system call, at most.
pub const BATCH: usize = 64;

fn to_sockaddr(addr: SocketAddr) -> io::Result<libc::sockaddr_in> {
    let SocketAddr::V4(a) = addr else {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "IPv4 addresses only",
        ));
    };
    Ok(libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(a.ip().octets()),
        },
        sin_zero: [0; 8],
    })
}

fn from_sockaddr(a: &libc::sockaddr_in) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(
        Ipv4Addr::from(a.sin_addr.s_addr.to_ne_bytes()),
        u16::from_be(a.sin_port),
    ))
}

/// Buffers for up to [`BATCH`] received datagrams.
pub struct RecvBatch {
    bufs: Vec<[u8; MAX_DATAGRAM]>,
    lens: Vec<usize>,
    from: Vec<SocketAddr>,
    filled: usize,
}

impl Default for RecvBatch {
    fn default() -> Self {
        RecvBatch {
            bufs: vec![[0u8; MAX_DATAGRAM]; BATCH],
            lens: vec![0; BATCH],
            from: vec![SocketAddr::from(([0, 0, 0, 0], 0)); BATCH],
            filled: 0,
        }
    }
}

impl RecvBatch {
    /// The datagrams of the last [`recv`], with their senders.
    pub fn iter(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.bufs
            .iter()
            .zip(&self.lens)
            .zip(&self.from)
            .take(self.filled)
            .map(|((b, &len), &from)| (from, b.get(..len).unwrap_or_default()))
    }
}

/// One `mmsghdr` for one datagram: its single iovec and its address.
fn header(iov: &mut libc::iovec, addr: &mut libc::sockaddr_in) -> libc::mmsghdr {
    // SAFETY: msghdr is plain old data; all zeros is a valid value.
    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
    hdr.msg_name = (addr as *mut libc::sockaddr_in).cast();
    hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    hdr.msg_iov = iov;
    hdr.msg_iovlen = 1;
    libc::mmsghdr {
        msg_hdr: hdr,
        msg_len: 0,
    }
}

/// Receives up to [`BATCH`] datagrams in one `recvmmsg`: blocks until one
/// arrives, then takes what is already queued. Returns how many: 0 when the
/// socket's read timeout passed first.
pub fn recv(socket: &UdpSocket, batch: &mut RecvBatch) -> io::Result<usize> {
    batch.filled = 0;
    let n = batch.bufs.len();
    let mut iovs: Vec<libc::iovec> = batch
        .bufs
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: MAX_DATAGRAM,
        })
        .collect();
    // SAFETY: sockaddr_in is plain old data; all zeros is a valid value.
    let mut addrs: Vec<libc::sockaddr_in> = vec![unsafe { std::mem::zeroed() }; n];
    let mut msgs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .zip(addrs.iter_mut())
        .map(|(iov, addr)| header(iov, addr))
        .collect();
    // SAFETY: `msgs` holds `n` headers whose name and iovec pointers point
    // into `addrs`, `iovs` and `batch.bufs`, all alive and unmoved until the
    // call returns; each iovec's length is its buffer's.
    let got = unsafe {
        libc::recvmmsg(
            socket.as_raw_fd(),
            msgs.as_mut_ptr(),
            n as libc::c_uint,
            libc::MSG_WAITFORONE,
            std::ptr::null_mut(),
        )
    };
    if got < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Ok(0),
            _ => Err(e),
        };
    }
    let got = usize::try_from(got).unwrap_or(0).min(n);
    for (i, m) in msgs.iter().take(got).enumerate() {
        if let (Some(len), Some(from), Some(addr)) =
            (batch.lens.get_mut(i), batch.from.get_mut(i), addrs.get(i))
        {
            *len = (m.msg_len as usize).min(MAX_DATAGRAM);
            *from = from_sockaddr(addr);
        }
    }
    batch.filled = got;
    Ok(got)
}

/// Sends every datagram of `out` in `sendmmsg` calls of up to [`BATCH`]
/// (blocking while the socket's buffer is full). Returns the system calls
/// made.
pub fn send(socket: &UdpSocket, out: &[(SocketAddr, &[u8])]) -> io::Result<usize> {
    let mut calls = 0;
    for chunk in out.chunks(BATCH) {
        let mut addrs = chunk
            .iter()
            .map(|(to, _)| to_sockaddr(*to))
            .collect::<io::Result<Vec<_>>>()?;
        let mut iovs: Vec<libc::iovec> = chunk
            .iter()
            .map(|(_, bytes)| libc::iovec {
                // The kernel only reads from it.
                iov_base: bytes.as_ptr().cast_mut().cast(),
                iov_len: bytes.len(),
            })
            .collect();
        let mut msgs: Vec<libc::mmsghdr> = iovs
            .iter_mut()
            .zip(addrs.iter_mut())
            .map(|(iov, addr)| header(iov, addr))
            .collect();
        let mut done = 0usize;
        while done < msgs.len() {
            let rest = msgs.get_mut(done..).unwrap_or_default();
            // SAFETY: `rest` holds headers whose pointers point into `addrs`,
            // `iovs` and the caller's byte slices, all alive until the call
            // returns; the kernel reads the datagrams and writes `msg_len`.
            let sent = unsafe {
                libc::sendmmsg(
                    socket.as_raw_fd(),
                    rest.as_mut_ptr(),
                    rest.len() as libc::c_uint,
                    0,
                )
            };
            calls += 1;
            if sent < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            done += usize::try_from(sent).unwrap_or(0).max(1);
        }
    }
    Ok(calls)
}

/// The CPU clock of another thread of this process (user and system time,
/// the same accounting as `getrusage(RUSAGE_THREAD)`, at nanosecond
/// resolution), readable from outside it while it runs.
pub struct ThreadClock(libc::clockid_t);

impl ThreadClock {
    /// The clock of the thread behind `handle` (valid until it is joined).
    pub fn of<T>(handle: &JoinHandle<T>) -> io::Result<ThreadClock> {
        let mut id: libc::clockid_t = 0;
        // SAFETY: the pthread handle is that of a thread not yet joined (the
        // caller holds its JoinHandle); `id` is a valid out pointer.
        let rc = unsafe { libc::pthread_getcpuclockid(handle.as_pthread_t(), &mut id) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(ThreadClock(id))
    }

    /// Seconds of CPU the thread has used.
    pub fn seconds(&self) -> io::Result<f64> {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid out pointer; the clock ID came from
        // pthread_getcpuclockid.
        let rc = unsafe { libc::clock_gettime(self.0, &mut ts) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9)
    }
}
