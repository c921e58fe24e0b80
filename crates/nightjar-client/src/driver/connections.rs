//! The driver's QUIC connections: to the seeds during bootstrap, then to
//! the guards only. Moves bytes; decides nothing.

use std::time::Duration;

use nightjar_registry::NodeEntry;
use nightjar_wire::{Request, Response};

use super::Client;
use crate::{CONNECT_TIMEOUT, ClientError, clock, logic};

impl Client {
    pub(super) fn drop_bootstrap_connections(&mut self) {
        for (_, conn) in self.connections.drain() {
            conn.close(0u32.into(), b"bootstrap done");
        }
    }

    pub(super) async fn connection(
        &mut self,
        node: &NodeEntry,
    ) -> Result<quinn::Connection, ClientError> {
        if let Some(c) = self.connections.get(node)
            && c.close_reason().is_none()
        {
            return Ok(c.clone());
        }
        let connecting = nightjar_transport::connect(&self.endpoint, node.addr, &node.id.0);
        let conn = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| nightjar_transport::TransportError::Timeout(CONNECT_TIMEOUT))
            .and_then(|r| r)
            .map_err(|source| ClientError::Transport {
                addr: node.addr,
                source,
            })?;
        self.connections.insert(node.clone(), conn.clone());
        Ok(conn)
    }

    /// Send one request straight to `node` (bootstrap and guards only),
    /// reconnecting once if a pooled connection turns out to be dead.
    pub(super) async fn direct(
        &mut self,
        node: &NodeEntry,
        req: &Request,
        timeout: Duration,
    ) -> Result<Response, ClientError> {
        let mut attempt = 0;
        loop {
            let conn = self.connection(node).await?;
            let sent_at = clock::unix_now_ms();
            match nightjar_transport::request(&conn, req, timeout).await {
                Ok(resp) => {
                    let received_at = clock::unix_now_ms();
                    self.clock
                        .add(logic::clock_offset(sent_at, received_at, resp.node_time_ms));
                    return Ok(resp);
                }
                Err(e) if attempt == 0 && conn.close_reason().is_some() => {
                    tracing::debug!(error = %e, "pooled connection was closed; reconnecting");
                    self.connections.remove(node);
                    attempt += 1;
                }
                Err(source) => {
                    self.connections.remove(node);
                    return Err(ClientError::Transport {
                        addr: node.addr,
                        source,
                    });
                }
            }
        }
    }
}
