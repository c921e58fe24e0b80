//! Accepting connections and streams: connection limits, the per-connection
//! request budget, reading one request per stream with a deadline, handing it
//! to the core and writing the core's reply back.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use nightjar_crypto::identity::PublicKey;
use nightjar_wire::{ErrorCode, Response};
use tracing::debug;

use super::limits::TokenBucket;
use super::{Shared, effects, lock, unix_now_ms};
use crate::engine::RequestId;
use crate::metrics::{KindLabels, RefusedLabels, RequestLabels};

pub(super) async fn accept_loop(endpoint: quinn::Endpoint, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let incoming = tokio::select! {
            i = endpoint.accept() => i,
            _ = shutdown.changed() => break,
        };
        let Some(incoming) = incoming else { break };
        // Count the connection before its handshake costs anything; refuse it
        // outright when its source or the node is at its limit.
        let slot = match shared.connections.admit(incoming.remote_address().ip()) {
            Ok(slot) => slot,
            Err(refusal) => {
                let limit = refusal.label();
                debug!(limit, "incoming connection refused");
                shared
                    .metrics
                    .refused_connections
                    .get_or_create(&RefusedLabels { limit })
                    .inc();
                incoming.refuse();
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let conn = match incoming.await {
                Ok(c) => c,
                Err(e) => {
                    debug!(error = %e, "handshake failed");
                    return;
                }
            };
            shared.metrics.connections.inc();
            serve_connection(conn, shared.clone()).await;
            shared.metrics.connections.dec();
        });
    }
}

async fn serve_connection(conn: quinn::Connection, shared: Arc<Shared>) {
    let peer = nightjar_transport::peer_node_key(&conn);
    if let Some(accounting) = &shared.accounting {
        lock(accounting).saw_connection(conn.remote_address().ip(), peer.is_some());
    }
    let mut budget = TokenBucket::new(shared.limits.requests_per_sec, Instant::now());
    loop {
        // QUIC flow control (the transport's concurrent-stream cap) bounds
        // how many of these are in progress at once.
        let (send, recv) = match conn.accept_bi().await {
            Ok(s) => s,
            Err(e) => {
                debug!(error = %e, "connection closed");
                return;
            }
        };
        let read_deadline = tokio::time::Instant::now() + shared.limits.read_timeout;
        // Registered nodes carry replication and sync for whole swarms: they
        // are few, authenticated, and not rate limited.
        let allowed = budget.try_take(Instant::now())
            || peer
                .as_ref()
                .is_some_and(|k| lock(&shared.core).is_registered_peer(k));
        if allowed {
            tokio::spawn(serve_stream(
                send,
                recv,
                shared.clone(),
                peer,
                read_deadline,
            ));
        } else {
            shared.metrics.rate_limited.inc();
            tokio::spawn(refuse_stream(send, recv, read_deadline));
        }
    }
}

/// Error code for streams the node stops reading (the request took too long
/// or is not wanted); the answer on the stream says why.
const STREAM_STOPPED: u32 = 1;

/// Answer `rate_limited` without decoding anything, then discard what the
/// client sends on the stream (up to the read deadline) so it can finish its
/// half cleanly and read the answer.
async fn refuse_stream(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    read_deadline: tokio::time::Instant,
) {
    let response = Response::error(
        unix_now_ms(),
        ErrorCode::RateLimited,
        "too many requests on this connection; slow down and retry",
    );
    let exchange = async {
        if let Err(e) = nightjar_transport::write_response(&mut send, &response).await {
            debug!(error = %e, "could not deliver a rate_limited answer");
        }
        let mut discarded = 0usize;
        while discarded <= nightjar_wire::MAX_REQUEST_FRAME {
            match recv
                .read_chunk(nightjar_wire::MAX_REQUEST_FRAME, true)
                .await
            {
                Ok(Some(chunk)) => discarded += chunk.bytes.len(),
                Ok(None) | Err(_) => return,
            }
        }
    };
    if tokio::time::timeout_at(read_deadline, exchange)
        .await
        .is_err()
    {
        let _ = recv.stop(STREAM_STOPPED.into());
    }
}

async fn serve_stream(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    shared: Arc<Shared>,
    peer: Option<PublicKey>,
    read_deadline: tokio::time::Instant,
) {
    let started = Instant::now();
    let read = tokio::time::timeout_at(read_deadline, nightjar_transport::read_request(&mut recv));
    let request = match read.await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            debug!(error = %e, "stream failed before a request arrived");
            return;
        }
        Err(_) => {
            // A request that never finishes must not hold a stream (and its
            // buffer) forever: stop reading, say why, and free it.
            let _ = recv.stop(STREAM_STOPPED.into());
            let response = Response::error(
                unix_now_ms(),
                ErrorCode::BadRequest,
                format!(
                    "the request did not arrive completely within {} ms",
                    shared.limits.read_timeout.as_millis()
                ),
            );
            count_invalid(&shared, started);
            if let Err(e) = nightjar_transport::write_response(&mut send, &response).await {
                debug!(error = %e, "could not deliver a response");
            }
            return;
        }
    };
    if let (Some(accounting), Ok(r)) = (&shared.accounting, &request) {
        lock(accounting).saw_request(r);
    }
    // Keys, hashes, signatures and onion layers are checked here, on this
    // stream's task, not under the core's lock.
    let (id, mut rx) = submit(&shared, peer.as_ref(), request, started);
    let response = tokio::select! {
        r = &mut rx => r.ok(),
        _ = send.stopped() => {
            // The client went away: a waiting retrieve or a relay stops
            // now; anything else finishes (a store keeps replicating).
            effects::input(&shared, |core| core.handle_client_gone(unix_now_ms(), id));
            rx.await.ok()
        }
    };
    lock(&shared.replies).remove(&id);
    if let Some(response) = response
        && let Err(e) = nightjar_transport::write_response(&mut send, &response).await
    {
        debug!(error = %e, "could not deliver a response");
    }
}

/// Hands `request` (from `peer`, or an anonymous client) to the core after
/// its stateless checks; the reply arrives on the receiver. The caller
/// removes the reply slot when done (`shared.replies`).
pub(super) fn submit(
    shared: &Arc<Shared>,
    peer: Option<&PublicKey>,
    request: Result<nightjar_wire::Request, nightjar_wire::WireError>,
    started: Instant,
) -> (RequestId, tokio::sync::oneshot::Receiver<Response>) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let id = submit_to(
        shared,
        peer,
        request,
        started,
        Box::new(move |response| {
            // A dropped receiver: the stream is gone.
            let _ = tx.send(response);
        }),
    );
    (id, rx)
}

/// [`submit`], the reply handed to `reply` by whoever runs the effect
/// that answers (no task waits for it). The slot is removed as it is used.
pub(super) fn submit_to(
    shared: &Arc<Shared>,
    peer: Option<&PublicKey>,
    request: Result<nightjar_wire::Request, nightjar_wire::WireError>,
    started: Instant,
    reply: super::ReplyTo,
) -> RequestId {
    let request = shared.pre.check(unix_now_ms(), request);
    let id = RequestId(shared.next_request.fetch_add(1, Ordering::Relaxed));
    lock(&shared.replies).insert(id, (reply, started));
    effects::input(shared, |core| {
        core.handle_request(unix_now_ms(), id, peer, request)
    });
    id
}

/// Count a request that never arrived completely.
fn count_invalid(shared: &Shared, started: Instant) {
    let kind = "invalid";
    shared
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            kind,
            outcome: ErrorCode::BadRequest.name(),
        })
        .inc();
    shared
        .metrics
        .request_seconds
        .get_or_create(&KindLabels { kind })
        .observe(started.elapsed().as_secs_f64());
}
