//! What a node does with an onion layer, without I/O.
//!
//! A node that receives an `onion` request peels its own layer
//! ([`nightjar_crypto::onion::peel`]): either the layer names the next hop,
//! which must be a node of the registry other than this one, or this node is
//! the destination and the layer carries a request to handle here. The driver
//! then forwards (and wraps the next hop's answer) or handles the inner
//! request (and wraps the response). This module decides; it does not send,
//! wait or store anything.
//!
//! Not here: the connection pool and the timers (the driver), the layer
//! format itself (`nightjar-crypto`, specified in `docs/PROTOCOL.md`).

use std::time::Duration;

use nightjar_crypto::identity::Identity;
use nightjar_crypto::onion::{HopFailure, OnionError, Peeled, ReplyKey};
use nightjar_registry::NodeEntry;
use nightjar_types::NodeKey;
use nightjar_wire::{ErrorCode, OnionRequest, Request, Response, ResponseBody, WireError};

/// The next step for one onion layer.
pub enum OnionStep {
    /// Answer with this response now.
    Respond(Response),
    /// Send `onion` to `next`, wait at most `timeout` for its answer, and
    /// answer with the answer wrapped by `reply` (or a hop error).
    Forward {
        /// The next hop.
        next: NodeEntry,
        /// The onion request for it (its layer, the hop count plus one).
        onion: OnionRequest,
        /// How long to wait for the next hop's answer.
        timeout: Duration,
        /// The key this hop's answer is wrapped with.
        reply: ReplyKey,
    },
    /// This node is the destination: handle `request` as a request from an
    /// anonymous client and answer with [`wrap_final`].
    Deliver {
        /// The inner request (or why it did not decode).
        request: Result<Request, WireError>,
        /// The key the answer is wrapped with.
        reply: ReplyKey,
    },
}

impl std::fmt::Debug for OnionStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OnionStep::Respond(r) => f.debug_tuple("Respond").field(r).finish(),
            OnionStep::Forward { next, timeout, .. } => f
                .debug_struct("Forward")
                .field("next", next)
                .field("timeout", timeout)
                .finish_non_exhaustive(),
            OnionStep::Deliver { request, .. } => f
                .debug_struct("Deliver")
                .field("request", &request.as_ref().map(Request::kind))
                .finish_non_exhaustive(),
        }
    }
}

/// This node's onion layer, peeled: the stateless, expensive part of
/// [`step`] (an X25519 exchange and the layer's decryption), which a driver
/// may run before taking the node's lock; [`route`] decides the rest.
pub enum Layer {
    /// The layer does not open with this node's key (or is damaged).
    Unreadable(OnionError),
    /// The layer names a next hop.
    Forward {
        /// The next hop's node key (not checked against the registry yet).
        next: NodeKey,
        /// The onion request for it (its layer, the hop count plus one).
        onion: OnionRequest,
        /// How long the client asked this hop to wait for the next one.
        timeout_ms: u32,
        /// The key this hop's answer is wrapped with.
        reply: ReplyKey,
    },
    /// This node is the destination of `request`.
    Deliver {
        /// The inner request (or why it did not decode).
        request: Result<Request, WireError>,
        /// The key the answer is wrapped with.
        reply: ReplyKey,
    },
}

impl std::fmt::Debug for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Layer::Unreadable(e) => f.debug_tuple("Unreadable").field(e).finish(),
            Layer::Forward {
                onion, timeout_ms, ..
            } => f
                .debug_struct("Forward")
                .field("hop", &onion.hop)
                .field("timeout_ms", timeout_ms)
                .finish_non_exhaustive(),
            Layer::Deliver { request, .. } => f
                .debug_struct("Deliver")
                .field("request", &request.as_ref().map(Request::kind))
                .finish_non_exhaustive(),
        }
    }
}

/// Peel `onion` with this node's `identity` (see [`Layer`]).
pub fn peel_layer(identity: &Identity, onion: &OnionRequest) -> Layer {
    let (peeled, reply) =
        match nightjar_crypto::onion::peel(identity, &onion.ephemeral_key, &onion.layer) {
            Ok(p) => p,
            Err(e) => return Layer::Unreadable(e),
        };
    match peeled {
        Peeled::Forward {
            next,
            ephemeral_key,
            timeout_ms,
            layer,
        } => Layer::Forward {
            next: NodeKey::new(next),
            onion: OnionRequest {
                ephemeral_key,
                layer,
                hop: onion.hop.saturating_add(1),
            },
            timeout_ms,
            reply,
        },
        Peeled::Deliver { request_frame } => {
            let request = match Request::from_frame(&request_frame) {
                Ok(Request::Onion(_)) => Err(WireError::InvalidField {
                    field: "body",
                    reason: "an onion layer may not deliver another onion request".into(),
                }),
                other => other,
            };
            Layer::Deliver { request, reply }
        }
    }
}

/// Decide what to do with a peeled layer: `own_key` is this node's key (a
/// layer naming this node as its own next hop is refused), `lookup` finds
/// a registered node by key (the caller's registry view), and hop timeouts
/// are capped at `max_timeout`.
pub fn route(
    layer: Layer,
    own_key: &NodeKey,
    now_ms: u64,
    max_timeout: Duration,
    lookup: impl FnOnce(&NodeKey) -> Option<NodeEntry>,
) -> OnionStep {
    match layer {
        Layer::Unreadable(e) => OnionStep::Respond(layer_error(now_ms, &e)),
        Layer::Forward {
            next,
            onion,
            timeout_ms,
            reply,
        } => {
            if onion.hop >= nightjar_wire::MAX_ONION_HOPS {
                return hop_error(now_ms, reply, HopFailure::Refused);
            }
            if &next == own_key {
                return hop_error(now_ms, reply, HopFailure::NotANode);
            }
            let Some(next) = lookup(&next) else {
                return hop_error(now_ms, reply, HopFailure::NotANode);
            };
            OnionStep::Forward {
                next,
                onion,
                timeout: Duration::from_millis(u64::from(timeout_ms)).min(max_timeout),
                reply,
            }
        }
        Layer::Deliver { request, reply } => OnionStep::Deliver { request, reply },
    }
}

/// Peel `onion` with this node's `identity` and decide what to do:
/// [`peel_layer`], then [`route`].
///
/// `lookup` finds a registered node by key (the caller's registry view);
/// a layer naming this node as its own next hop is refused; hop timeouts
/// are capped at `max_timeout`.
pub fn step(
    identity: &Identity,
    now_ms: u64,
    onion: &OnionRequest,
    max_timeout: Duration,
    lookup: impl FnOnce(&NodeKey) -> Option<NodeEntry>,
) -> OnionStep {
    let own = NodeKey::new(identity.public_key().to_bytes());
    route(
        peel_layer(identity, onion),
        &own,
        now_ms,
        max_timeout,
        lookup,
    )
}

/// The answer of a relay whose next hop answered `answer`: the next hop's
/// blob wrapped in this hop's layer, or a hop error if the next hop did not
/// answer with an onion blob.
pub fn wrap_relayed(now_ms: u64, reply: ReplyKey, answer: &Response) -> Response {
    match &answer.body {
        ResponseBody::Onion(blob) => onion_response(now_ms, reply.relayed(blob)),
        _ => onion_response(now_ms, reply.hop_error(HopFailure::Refused)),
    }
}

/// The answer of a relay that could not get an answer from its next hop.
pub fn wrap_failure(now_ms: u64, reply: ReplyKey, failure: HopFailure) -> Response {
    onion_response(now_ms, reply.hop_error(failure))
}

/// The destination's answer: `response` padded and wrapped for the client.
pub fn wrap_final(now_ms: u64, reply: ReplyKey, response: &Response) -> Response {
    match reply.final_response(&response.to_frame()) {
        Ok(blob) => onion_response(now_ms, blob),
        // Only a response larger than the largest bucket fails, and no
        // response the node builds is: answer plainly rather than drop it.
        Err(e) => Response::error(now_ms, ErrorCode::Unavailable, e.to_string()),
    }
}

fn onion_response(now_ms: u64, blob: Vec<u8>) -> Response {
    Response {
        node_time_ms: now_ms,
        body: ResponseBody::Onion(blob),
    }
}

fn hop_error(now_ms: u64, reply: ReplyKey, failure: HopFailure) -> OnionStep {
    OnionStep::Respond(wrap_failure(now_ms, reply, failure))
}

fn layer_error(now_ms: u64, e: &OnionError) -> Response {
    Response::error(
        now_ms,
        ErrorCode::OnionFailed,
        format!("cannot open this node's onion layer: {e}"),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use nightjar_crypto::identity::Seed;
    use nightjar_registry::NodeId;

    fn node(n: u8) -> (Identity, NodeEntry) {
        let id = Identity::from_seed(Seed::from_bytes([n; 32]));
        let entry = NodeEntry {
            id: NodeId(id.public_key()),
            addr: std::net::SocketAddr::from(([127, 0, 1, n], 4000)),
        };
        (id, entry)
    }

    fn packet(
        path: &[&Identity],
        inner: &Request,
    ) -> (OnionRequest, nightjar_crypto::onion::ReturnKeys) {
        let hops: Vec<_> = path.iter().map(|i| (i.public_key(), 5_000)).collect();
        let (packet, keys) = nightjar_crypto::onion::build(&hops, &inner.to_frame()).unwrap();
        (
            OnionRequest {
                ephemeral_key: packet.ephemeral_key,
                layer: packet.layer,
                hop: 0,
            },
            keys,
        )
    }

    #[test]
    fn relay_forwards_to_the_registered_next_hop_and_destination_delivers() {
        let (a, _) = node(1);
        let (b, b_entry) = node(2);
        let (onion, keys) = packet(&[&a, &b], &Request::Info);
        let step_a = step(&a, 1, &onion, Duration::from_secs(60), |k| {
            (k.as_bytes() == b_entry.id.0.as_bytes()).then(|| b_entry.clone())
        });
        let OnionStep::Forward {
            next,
            onion: inner,
            timeout,
            reply: reply_a,
        } = step_a
        else {
            panic!("expected a forward, got {step_a:?}");
        };
        assert_eq!(next, b_entry);
        assert_eq!(timeout, Duration::from_millis(5_000));
        assert_eq!(inner.hop, 1);
        let step_b = step(&b, 2, &inner, Duration::from_secs(60), |_| None);
        let OnionStep::Deliver {
            request: Ok(Request::Info),
            reply: reply_b,
        } = step_b
        else {
            panic!("expected delivery of info, got {step_b:?}");
        };
        let answer = Response::error(7, ErrorCode::Unavailable, "test");
        let from_b = wrap_final(3, reply_b, &answer);
        let from_a = wrap_relayed(4, reply_a, &from_b);
        let ResponseBody::Onion(blob) = &from_a.body else {
            panic!("expected an onion blob");
        };
        let frame = keys.open(blob).unwrap();
        assert_eq!(Response::from_frame(&frame).unwrap(), answer);
    }

    #[test]
    fn unknown_next_hop_is_reported_to_the_client_as_that_hops_failure() {
        let (a, _) = node(1);
        let (b, _) = node(2);
        let (onion, keys) = packet(&[&a, &b], &Request::Info);
        let OnionStep::Respond(resp) = step(&a, 1, &onion, Duration::from_secs(60), |_| None)
        else {
            panic!("expected an answer");
        };
        let ResponseBody::Onion(blob) = &resp.body else {
            panic!("expected an onion blob");
        };
        match keys.open(blob) {
            Err(OnionError::HopFailed { hop: 0, failure }) => {
                assert_eq!(failure, HopFailure::NotANode);
            }
            other => panic!("expected hop 0's failure, got {other:?}"),
        }
    }

    #[test]
    fn layer_for_another_node_gets_a_plain_onion_failed_error() {
        let (a, _) = node(1);
        let (b, _) = node(2);
        let (onion, _) = packet(&[&a], &Request::Info);
        let OnionStep::Respond(resp) = step(&b, 1, &onion, Duration::from_secs(60), |_| None)
        else {
            panic!("expected an answer");
        };
        assert!(matches!(
            resp.body,
            ResponseBody::Error {
                code: ErrorCode::OnionFailed,
                ..
            }
        ));
    }

    #[test]
    fn nested_onion_is_refused_at_the_destination() {
        let (a, _) = node(1);
        let (inner_onion, _) = packet(&[&a], &Request::Info);
        let (onion, _) = packet(&[&a], &Request::Onion(inner_onion));
        let s = step(&a, 1, &onion, Duration::from_secs(60), |_| None);
        assert!(
            matches!(
                s,
                OnionStep::Deliver {
                    request: Err(_),
                    ..
                }
            ),
            "{s:?}"
        );
    }

    #[test]
    fn hop_timeouts_are_capped() {
        let (a, _) = node(1);
        let (b, b_entry) = node(2);
        let hops = [(a.public_key(), 3_600_000), (b.public_key(), 0)];
        let (p, _) = nightjar_crypto::onion::build(&hops, &Request::Info.to_frame()).unwrap();
        let onion = OnionRequest {
            ephemeral_key: p.ephemeral_key,
            layer: p.layer,
            hop: 0,
        };
        let s = step(&a, 1, &onion, Duration::from_secs(45), |_| {
            Some(b_entry.clone())
        });
        let OnionStep::Forward { timeout, .. } = s else {
            panic!("expected a forward");
        };
        assert_eq!(timeout, Duration::from_secs(45));
    }
}
