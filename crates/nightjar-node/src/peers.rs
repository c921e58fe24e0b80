//! Pooled, reused QUIC connections from this node to other nodes.
//!
//! Outgoing node-to-node connections leave from the node's own endpoint and
//! present the node's certificate, so the receiving node knows (by the key the
//! handshake proved) that a registered node is talking.
//!
//! One connection per node: requests that find no connection while one is
//! being set up wait for that handshake and share its result (a node that
//! is down costs one connection attempt, not one per request).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use nightjar_crypto::identity::Identity;
use nightjar_registry::NodeEntry;
use nightjar_transport::TransportError;
use nightjar_wire::{Request, Response};
use tokio::sync::OnceCell;

/// How long to wait for a handshake with another node.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a shared connection attempt failed (each waiter gets its own error).
#[derive(Debug, Clone)]
enum ConnectFailure {
    /// No handshake within [`CONNECT_TIMEOUT`].
    TimedOut,
    /// The connection failed.
    Connection(quinn::ConnectionError),
    /// It could not be started, or another reason.
    Other(String),
}

impl ConnectFailure {
    fn of(e: TransportError) -> ConnectFailure {
        match e {
            TransportError::Timeout(_) => ConnectFailure::TimedOut,
            TransportError::Connection(c) => ConnectFailure::Connection(c),
            other => ConnectFailure::Other(other.to_string()),
        }
    }

    fn error(&self, node: &NodeEntry) -> TransportError {
        match self {
            ConnectFailure::TimedOut => TransportError::Timeout(CONNECT_TIMEOUT),
            ConnectFailure::Connection(c) => TransportError::Connection(c.clone()),
            ConnectFailure::Other(reason) => TransportError::Connect {
                addr: node.addr,
                reason: reason.clone(),
            },
        }
    }
}

/// A handshake in progress, shared by everyone waiting for it.
type Connecting = Arc<OnceCell<Result<quinn::Connection, ConnectFailure>>>;

/// A node's place in the pool.
enum Slot {
    /// A connection (maybe closed since: checked on use).
    Up(quinn::Connection),
    /// A handshake in progress.
    Connecting(Connecting),
}

/// The pool.
pub struct Peers {
    endpoint: quinn::Endpoint,
    identity: Identity,
    conns: Mutex<HashMap<NodeEntry, Slot>>,
}

impl Peers {
    /// A pool using `endpoint` for outgoing connections, presenting `identity`.
    pub fn new(endpoint: quinn::Endpoint, identity: Identity) -> Peers {
        Peers {
            endpoint,
            identity,
            conns: Mutex::new(HashMap::new()),
        }
    }

    fn conns(&self) -> MutexGuard<'_, HashMap<NodeEntry, Slot>> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn cached(&self, node: &NodeEntry) -> Option<quinn::Connection> {
        match self.conns().get(node) {
            Some(Slot::Up(c)) if c.close_reason().is_none() => Some(c.clone()),
            _ => None,
        }
    }

    async fn connection(&self, node: &NodeEntry) -> Result<quinn::Connection, TransportError> {
        let connecting = {
            let mut conns = self.conns();
            match conns.get(node) {
                Some(Slot::Up(c)) if c.close_reason().is_none() => return Ok(c.clone()),
                Some(Slot::Connecting(shared)) => shared.clone(),
                _ => {
                    let shared = Connecting::default();
                    conns.insert(node.clone(), Slot::Connecting(shared.clone()));
                    shared
                }
            }
        };
        // The first waiter runs the handshake (if it is cancelled, the next
        // one takes over); the others wait for its result.
        let result = connecting
            .get_or_init(|| async {
                let attempt = nightjar_transport::connect_with(
                    &self.endpoint,
                    node.addr,
                    &node.id.0,
                    Some(&self.identity),
                );
                match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
                    Ok(Ok(conn)) => Ok(conn),
                    Ok(Err(e)) => Err(ConnectFailure::of(e)),
                    Err(_) => Err(ConnectFailure::TimedOut),
                }
            })
            .await
            .clone();
        {
            // Whoever gets here first settles the slot (unless it changed).
            let mut conns = self.conns();
            if let Some(Slot::Connecting(current)) = conns.get(node)
                && Arc::ptr_eq(current, &connecting)
            {
                match &result {
                    Ok(conn) => {
                        conns.insert(node.clone(), Slot::Up(conn.clone()));
                    }
                    Err(_) => {
                        conns.remove(node);
                    }
                }
            }
        }
        result.map_err(|f| f.error(node))
    }

    /// Send `req` to `node` and wait for the answer, at most `timeout` after
    /// the connection is up. A failed exchange drops the pooled connection.
    pub async fn request(
        &self,
        node: &NodeEntry,
        req: &Request,
        timeout: Duration,
    ) -> Result<Response, TransportError> {
        let pooled = self.cached(node).is_some();
        let conn = self.connection(node).await?;
        let mut result = nightjar_transport::request(&conn, req, timeout).await;
        if result.is_err() {
            self.forget(node, &conn);
            // A pooled connection the other side had already closed (it
            // restarted, or idled out) is not a failure of the node: try once
            // more on a fresh connection.
            if pooled && conn.close_reason().is_some() {
                let conn = self.connection(node).await?;
                result = nightjar_transport::request(&conn, req, timeout).await;
                if result.is_err() {
                    self.forget(node, &conn);
                }
            }
        }
        result
    }

    /// Forget `conn`, which failed, unless the pool moved on from it.
    fn forget(&self, node: &NodeEntry, conn: &quinn::Connection) {
        let mut conns = self.conns();
        if matches!(conns.get(node), Some(Slot::Up(c)) if c.stable_id() == conn.stable_id()) {
            conns.remove(node);
        }
    }

    /// Forget connections to nodes not in `keep`.
    pub fn retain(&self, keep: &[NodeEntry]) {
        self.conns().retain(|n, _| keep.contains(n));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use nightjar_registry::NodeId;
    use nightjar_wire::ResponseBody;

    /// A node that answers `info` on every stream and counts connections.
    fn answering_node() -> (NodeEntry, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
        let identity = Identity::generate().unwrap();
        let endpoint =
            nightjar_transport::server_endpoint(&identity, "127.0.0.1:0".parse().unwrap()).unwrap();
        let entry = NodeEntry {
            id: NodeId(identity.public_key()),
            addr: endpoint.local_addr().unwrap(),
        };
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            while let Some(incoming) = endpoint.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let key = nightjar_types::NodeKey::new(identity.public_key().to_bytes());
                tokio::spawn(async move {
                    let Ok(conn) = incoming.await else { return };
                    while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                        tokio::spawn(async move {
                            let _ = nightjar_transport::read_request(&mut recv).await;
                            let info = Response {
                                node_time_ms: 0,
                                body: ResponseBody::Info {
                                    software_version: "test".into(),
                                    protocol_version: 1,
                                    node_key: key,
                                },
                            };
                            let _ = nightjar_transport::write_response(&mut send, &info).await;
                        });
                    }
                });
            }
        });
        (entry, accepted, task)
    }

    fn pool() -> Arc<Peers> {
        let identity = Identity::generate().unwrap();
        let endpoint =
            nightjar_transport::server_endpoint(&identity, "127.0.0.1:0".parse().unwrap()).unwrap();
        Arc::new(Peers::new(endpoint, identity))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_to_a_new_node_share_one_connection() {
        let (node, accepted, server) = answering_node();
        let peers = pool();
        let mut requests = Vec::new();
        for _ in 0..20 {
            let (peers, node) = (peers.clone(), node.clone());
            requests.push(tokio::spawn(async move {
                peers
                    .request(&node, &Request::Info, Duration::from_secs(10))
                    .await
            }));
        }
        for r in requests {
            let answer = r.await.unwrap().unwrap();
            assert!(matches!(answer.body, ResponseBody::Info { .. }));
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "one connection");
        server.abort();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_to_a_silent_node_share_one_failed_attempt() {
        // Nothing answers on this port: packets go into a socket no one reads.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let node = NodeEntry {
            id: NodeId(Identity::generate().unwrap().public_key()),
            addr: silent.local_addr().unwrap(),
        };
        let peers = pool();
        let started = std::time::Instant::now();
        let mut requests = Vec::new();
        for _ in 0..20 {
            let (peers, node) = (peers.clone(), node.clone());
            requests.push(tokio::spawn(async move {
                peers
                    .request(&node, &Request::Info, Duration::from_secs(10))
                    .await
            }));
        }
        for r in requests {
            assert!(matches!(
                r.await.unwrap(),
                Err(TransportError::Timeout(CONNECT_TIMEOUT))
            ));
        }
        assert!(started.elapsed() < CONNECT_TIMEOUT * 2);
        // The failure is not kept: the next request tries again.
        assert!(peers.conns().is_empty());
        drop(silent);
    }
}
