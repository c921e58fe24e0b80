//! Pooled, reused QUIC connections from this node to other nodes.
//!
//! Outgoing node-to-node connections leave from the node's own endpoint and
//! present the node's certificate, so the receiving node knows (by the key the
//! handshake proved) that a registered node is talking.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use nightjar_crypto::identity::Identity;
use nightjar_registry::NodeEntry;
use nightjar_transport::TransportError;
use nightjar_wire::{Request, Response};

/// How long to wait for a handshake with another node.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The pool.
pub struct Peers {
    endpoint: quinn::Endpoint,
    identity: Identity,
    conns: Mutex<HashMap<NodeEntry, quinn::Connection>>,
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

    fn cached(&self, node: &NodeEntry) -> Option<quinn::Connection> {
        let conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        conns
            .get(node)
            .filter(|c| c.close_reason().is_none())
            .cloned()
    }

    async fn connection(&self, node: &NodeEntry) -> Result<quinn::Connection, TransportError> {
        if let Some(c) = self.cached(node) {
            return Ok(c);
        }
        let connecting = nightjar_transport::connect_with(
            &self.endpoint,
            node.addr,
            &node.id.0,
            Some(&self.identity),
        );
        let conn = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| TransportError::Timeout(CONNECT_TIMEOUT))??;
        self.conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(node.clone(), conn.clone());
        Ok(conn)
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
            self.forget(node);
            // A pooled connection the other side had already closed (it
            // restarted, or idled out) is not a failure of the node: try once
            // more on a fresh connection.
            if pooled && conn.close_reason().is_some() {
                let conn = self.connection(node).await?;
                result = nightjar_transport::request(&conn, req, timeout).await;
                if result.is_err() {
                    self.forget(node);
                }
            }
        }
        result
    }

    fn forget(&self, node: &NodeEntry) {
        self.conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(node);
    }

    /// Forget connections to nodes not in `keep`.
    pub fn retain(&self, keep: &[NodeEntry]) {
        self.conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|n, _| keep.contains(n));
    }
}
