//! Whether a started node is ready: it answers an `info` request over QUIC
//! at its address, from the key it was started with. A node started with a
//! ports file must first report the address it bound (see
//! [`crate::PortsFile`]); that is where it is asked.
//!
//! The loop polls (every [`POLL`]) until the node answers, its process
//! exits, or the deadline passes; each attempt gives up after [`ATTEMPT`].
//! Errors carry the end of the node's log.
//!
//! [`wait_for_registry`] waits, the same way, until nodes serve a given
//! registry height (`get_registry`): after their registry file changed,
//! e.g. once nodes started on port 0 have been listed in it.

use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use nightjar_crypto::identity::PublicKey;
use nightjar_wire::{Request, ResponseBody};

use crate::{LaunchError, NodeProcess, PortsFile};

/// Pause between attempts.
const POLL: Duration = Duration::from_millis(50);
/// Longest wait for one connection and `info` answer.
const ATTEMPT: Duration = Duration::from_secs(2);
/// How many log lines an error shows.
pub(crate) const TAIL_LINES: usize = 20;
/// How much of the end of the log is read for them.
const TAIL_BYTES: u64 = 64 * 1024;
/// Longest wait for the readiness connections to close cleanly.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Wait until every node in `nodes` answers (one after the other, each
/// with its own deadline from when its turn comes), over one client
/// endpoint. Nodes that fail are left to the caller (dropping them kills
/// them).
pub async fn wait_all_ready(nodes: &mut [NodeProcess]) -> Result<(), LaunchError> {
    let endpoint = nightjar_transport::client_endpoint(SocketAddr::new(crate::LOOPBACK, 0))
        .map_err(LaunchError::Endpoint)?;
    let mut result = Ok(());
    for node in nodes.iter_mut() {
        result = wait_one(&endpoint, node).await;
        if result.is_err() {
            break;
        }
    }
    // Let the nodes see the readiness connections close rather than time out.
    endpoint.close(0u32.into(), b"ready");
    let _ = tokio::time::timeout(CLOSE_WAIT, endpoint.wait_idle()).await;
    result
}

async fn wait_one(endpoint: &quinn::Endpoint, node: &mut NodeProcess) -> Result<(), LaunchError> {
    let timeout = node.launch().ready_timeout;
    let deadline = Instant::now() + timeout;
    let ports_file = node.launch().ports_file.clone();
    loop {
        if let Some(status) = node.try_wait()? {
            return Err(LaunchError::Exited {
                label: node.label().to_string(),
                status,
                log: node.log_path().to_path_buf(),
                tail: log_tail(node.log_path(), TAIL_LINES),
            });
        }
        let known = match (&ports_file, node.reported()) {
            (_, Some(_)) => true,
            (Some(path), None) => match PortsFile::read(path)? {
                // Only this process's report counts (the file is removed
                // before each start; the pid guards against anything else).
                Some(report) if report.pid == node.pid() => {
                    node.set_reported(report);
                    true
                }
                _ => false,
            },
            (None, None) if node.addr().port() == 0 => {
                return Err(LaunchError::UnknownAddress {
                    label: node.label().to_string(),
                });
            }
            (None, None) => true,
        };
        if known
            && nightjar_transport::answers_info(endpoint, node.addr(), node.key(), ATTEMPT).await
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(LaunchError::NotReady {
                label: node.label().to_string(),
                addr: node.addr(),
                timeout,
                log: node.log_path().to_path_buf(),
                tail: log_tail(node.log_path(), TAIL_LINES),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Wait until every node in `targets` (QUIC address and key) answers
/// `get_registry` with a registry of at least `height` (`docs/PROTOCOL.md`
/// §12: the events of a registry file; for a chain registry the block the
/// node has read up to), each within `timeout` of its turn, over one client
/// endpoint.
pub async fn wait_for_registry(
    targets: &[(SocketAddr, PublicKey)],
    height: u64,
    timeout: Duration,
) -> Result<(), LaunchError> {
    let endpoint = nightjar_transport::client_endpoint(SocketAddr::new(crate::LOOPBACK, 0))
        .map_err(LaunchError::Endpoint)?;
    let mut result = Ok(());
    for (addr, key) in targets {
        result = registry_served(&endpoint, *addr, key, height, timeout).await;
        if result.is_err() {
            break;
        }
    }
    endpoint.close(0u32.into(), b"registry");
    let _ = tokio::time::timeout(CLOSE_WAIT, endpoint.wait_idle()).await;
    result
}

async fn registry_served(
    endpoint: &quinn::Endpoint,
    addr: SocketAddr,
    key: &PublicKey,
    height: u64,
    timeout: Duration,
) -> Result<(), LaunchError> {
    let deadline = Instant::now() + timeout;
    let mut conn = None;
    loop {
        let last = match conn.as_ref() {
            None => match tokio::time::timeout(
                ATTEMPT,
                nightjar_transport::connect(endpoint, addr, key),
            )
            .await
            {
                Ok(Ok(c)) => {
                    conn = Some(c);
                    continue;
                }
                Ok(Err(e)) => format!("cannot connect: {e}"),
                Err(_) => "cannot connect: timed out".to_string(),
            },
            Some(c) => match nightjar_transport::request(c, &Request::GetRegistry, ATTEMPT).await {
                Ok(resp) => match resp.body {
                    ResponseBody::Registry { height: h, .. } if h >= height => {
                        c.close(0u32.into(), b"registry");
                        return Ok(());
                    }
                    ResponseBody::Registry { height: h, .. } => format!("height {h}"),
                    other => format!("{other:?}"),
                },
                Err(e) => {
                    conn = None;
                    format!("no answer: {e}")
                }
            },
        };
        if Instant::now() >= deadline {
            return Err(LaunchError::RegistryNotServed {
                addr,
                height,
                timeout,
                last,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The last `lines` lines of the file at `path` (read from its last
/// 64 KiB, lossily as UTF-8); empty if it cannot be read.
pub(crate) fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(mut file) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if file
        .seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))
        .is_err()
    {
        return String::new();
    }
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    let skip = all.len().saturating_sub(lines);
    all.into_iter().skip(skip).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_is_the_last_lines() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("log");
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, text).expect("write");
        assert_eq!(log_tail(&path, 3), "line 97\nline 98\nline 99");
        assert_eq!(log_tail(&path, 0), "");
        assert_eq!(log_tail(&tmp.path().join("missing"), 3), "");
    }
}
