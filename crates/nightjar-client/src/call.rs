//! One request through onion paths, sans-IO: build the layered request for
//! guard → relay → relay → destination with per-hop timeouts, classify the
//! answer, blame the right hop, and decide whether to try another path.
//!
//! [`CallOp`] is one request to one destination. Drive it with
//! [`CallOp::poll`] (which answers "send this request to this guard with
//! this timeout", "wait this long" or "done") and [`CallOp::handle_answer`]
//! (the guard's answer, or the transport failure reaching it). It updates the
//! [`PathManager`]'s strikes and the [`Unreachable`] destinations itself.
//!
//! The blame rule: a transport failure to the guard, or a guard that answers
//! an error or anything but an onion blob, is hop 0; a hop error from hop `h`
//! blames hop `h + 1` (the destination when `h + 1` is the number of relays);
//! a damaged layer from hop `h` blames that relay; an answer that opens but
//! does not decode, or the destination's own `onion_failed` error, is the
//! destination's. A relay failure strikes the relay and tries another path
//! (at most [`PATH_ATTEMPTS`] paths); a destination failure does not strike
//! the relays, marks the destination unreachable for a while and ends the
//! call, so that the caller tries another member.
//!
//! Randomness is passed in: [`OnionAttempt::build_with`] draws the layers'
//! ephemeral keys from a caller's `RandomSource` (a simulator's seeded one);
//! [`OnionAttempt::build`] uses the OS generator. Not here: sockets, timers,
//! the clock.

use std::time::Duration;

use nightjar_crypto::identity::PublicKey;
use nightjar_crypto::onion::{OnionError, ReturnKeys};
use nightjar_crypto::{OsRandom, RandomSource};
use nightjar_registry::NodeEntry;
use nightjar_wire::{ErrorCode, Request, Response, ResponseBody};

use crate::ClientError;
use crate::failover::Unreachable;
use crate::logic::ClockEstimator;
use crate::paths::{Path, PathError, PathManager};

/// How many paths one request tries before giving up on its destination.
pub const PATH_ATTEMPTS: usize = 4;

/// What each relay adds to the time it waits for the next hop, so that the
/// hop closest to the failure reports it first.
pub const HOP_MARGIN: Duration = Duration::from_millis(1_500);

/// How long `hops[i]` of a path of `relays` relays waits for the next hop,
/// in ms, for each `i`: `work` plus [`HOP_MARGIN`] per hop still ahead.
pub fn hop_waits_ms(relays: usize, work: Duration) -> Vec<u32> {
    (0..relays)
        .map(|i| {
            let ahead = u32::try_from(relays - i).unwrap_or(u32::MAX);
            u32::try_from((work + HOP_MARGIN * ahead).as_millis()).unwrap_or(u32::MAX)
        })
        .collect()
}

/// How long the client waits for its guard's answer: one margin more than
/// the guard itself waits.
pub fn guard_timeout(relays: usize, work: Duration) -> Duration {
    work + HOP_MARGIN * u32::try_from(relays + 1).unwrap_or(u32::MAX)
}

/// What one attempt through one path came to.
#[derive(Debug)]
pub enum CallOutcome {
    /// The destination answered.
    Answer(Response),
    /// Hop `hop` of the path (0 = guard) failed: strike it, try another path.
    HopFailed {
        /// Which hop of the path.
        hop: usize,
        /// What the client saw.
        error: ClientError,
    },
    /// The destination failed; the path worked.
    DestinationFailed {
        /// What the client saw.
        error: ClientError,
        /// The destination's clock, when it answered at all.
        node_time_ms: Option<u64>,
    },
    /// Nothing another path would change.
    Fatal(ClientError),
}

/// One onion request built for one path: the request to send to the guard,
/// and the keys to open its answer.
#[derive(Debug)]
pub struct OnionAttempt {
    path: Path,
    relays: usize,
    timeout: Duration,
    request: Request,
    keys: ReturnKeys,
}

impl OnionAttempt {
    /// Wrap `frame` (a request frame) for `path` then `dest`, giving
    /// `work` to the destination, with ephemeral keys from the OS generator.
    pub fn build(
        path: &Path,
        dest: &NodeEntry,
        frame: &[u8],
        work: Duration,
    ) -> Result<OnionAttempt, OnionError> {
        OnionAttempt::build_with(&mut OsRandom, path, dest, frame, work)
    }

    /// [`OnionAttempt::build`] with the ephemeral keys drawn from `rng`.
    pub fn build_with(
        rng: &mut dyn RandomSource,
        path: &Path,
        dest: &NodeEntry,
        frame: &[u8],
        work: Duration,
    ) -> Result<OnionAttempt, OnionError> {
        let relays = path.hops.len();
        let mut hops: Vec<(PublicKey, u32)> = path
            .hops
            .iter()
            .zip(hop_waits_ms(relays, work))
            .map(|(n, wait)| (n.id.0, wait))
            .collect();
        hops.push((dest.id.0, 0));
        let (packet, keys) = nightjar_crypto::onion::build_with(rng, &hops, frame)?;
        Ok(OnionAttempt {
            path: path.clone(),
            relays,
            timeout: guard_timeout(relays, work),
            request: Request::Onion(nightjar_wire::OnionRequest {
                ephemeral_key: packet.ephemeral_key,
                layer: packet.layer,
                hop: 0,
            }),
            keys,
        })
    }

    /// The guard to send [`OnionAttempt::request`] to.
    pub fn guard(&self) -> &NodeEntry {
        self.path.guard()
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The request for the guard.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// How long to wait for the guard's answer.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Classify the guard's answer (or the failure reaching the guard).
    pub fn classify(&self, answer: Result<Response, ClientError>) -> CallOutcome {
        let relays = self.relays;
        let outer = match answer {
            Ok(outer) => outer,
            Err(error) => return CallOutcome::HopFailed { hop: 0, error },
        };
        let blob = match outer.body {
            ResponseBody::Onion(blob) => blob,
            ResponseBody::Error { code, message } => {
                // The guard refused the request itself (its layer, or a limit).
                return CallOutcome::HopFailed {
                    hop: 0,
                    error: ClientError::Refused { code, message },
                };
            }
            other => {
                return CallOutcome::HopFailed {
                    hop: 0,
                    error: ClientError::Protocol(format!(
                        "guard answered {other:?} to an onion request"
                    )),
                };
            }
        };
        let inner = match self.keys.open(&blob) {
            Ok(frame) => frame,
            Err(OnionError::HopFailed { hop, failure }) => {
                // Hop `hop` reports that the hop after it failed.
                let failed = hop + 1;
                let error = ClientError::HopFailed {
                    hop: failed,
                    failure,
                };
                return if failed >= relays {
                    CallOutcome::DestinationFailed {
                        error,
                        node_time_ms: None,
                    }
                } else {
                    CallOutcome::HopFailed { hop: failed, error }
                };
            }
            Err(OnionError::BadResponse { hop }) => {
                return CallOutcome::HopFailed {
                    hop: hop.min(relays.saturating_sub(1)),
                    error: ClientError::Protocol(format!("hop {hop} returned a damaged answer")),
                };
            }
            Err(e) => {
                return CallOutcome::HopFailed {
                    hop: 0,
                    error: ClientError::Onion(e),
                };
            }
        };
        let resp = match Response::from_frame(&inner) {
            Ok(resp) => resp,
            Err(e) => {
                return CallOutcome::DestinationFailed {
                    error: ClientError::Protocol(format!(
                        "destination answered an unreadable response: {e}"
                    )),
                    node_time_ms: None,
                };
            }
        };
        if let ResponseBody::Error { code, message } = &resp.body
            && *code == ErrorCode::OnionFailed
        {
            return CallOutcome::DestinationFailed {
                error: ClientError::Refused {
                    code: *code,
                    message: message.clone(),
                },
                node_time_ms: Some(resp.node_time_ms),
            };
        }
        CallOutcome::Answer(resp)
    }
}

/// The client state a call reads and updates: paths and strikes, the
/// registry's nodes, the destinations that failed lately, the clock
/// estimate, and the random-index function.
pub struct CallContext<'a> {
    /// Guards, paths, strikes.
    pub paths: &'a mut PathManager,
    /// The registry snapshot's nodes.
    pub nodes: &'a [NodeEntry],
    /// Destinations that failed to answer lately.
    pub unreachable: &'a mut Unreachable,
    /// The network clock estimate.
    pub clock: &'a mut ClockEstimator,
    /// A random index below its argument.
    pub pick: &'a mut dyn FnMut(usize) -> usize,
}

impl std::fmt::Debug for CallContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallContext")
            .field("nodes", &self.nodes.len())
            .finish_non_exhaustive()
    }
}

/// What a [`CallOp`] wants next.
#[derive(Debug)]
pub enum CallStep {
    /// Send [`OnionAttempt::request`] to [`OnionAttempt::guard`] with
    /// [`OnionAttempt::timeout`], then give the answer to
    /// [`CallOp::handle_answer`] with this attempt.
    Send(Box<OnionAttempt>),
    /// No path may be built yet (backoff): poll again after this long.
    Wait(Duration),
    /// The call is over.
    Done(Result<Response, ClientError>),
}

/// One request to one destination through up to [`PATH_ATTEMPTS`] paths.
#[derive(Debug)]
pub struct CallOp {
    dest: NodeEntry,
    frame: Vec<u8>,
    work: Duration,
    attempts: usize,
    last_error: Option<ClientError>,
    done: bool,
    guards_changed: bool,
}

impl CallOp {
    /// A call of `request` to `dest`, which may take `work` (a waiting
    /// retrieve's wait included).
    pub fn new(dest: &NodeEntry, request: &Request, work: Duration) -> CallOp {
        CallOp {
            dest: dest.clone(),
            frame: request.to_frame(),
            work,
            attempts: 0,
            last_error: None,
            done: false,
            guards_changed: false,
        }
    }

    /// The destination.
    pub fn destination(&self) -> &NodeEntry {
        &self.dest
    }

    /// Whether the guard set changed during this call (save it).
    pub fn guards_changed(&self) -> bool {
        self.guards_changed
    }

    /// The next step: an attempt to send, a wait, or the end. Each step but
    /// the end counts toward [`PATH_ATTEMPTS`], a build backoff's wait too.
    pub fn poll(&mut self, ctx: &mut CallContext<'_>, now_ms: u64) -> CallStep {
        self.poll_with(ctx, &mut OsRandom, now_ms)
    }

    /// [`CallOp::poll`] with the onion layers' ephemeral keys drawn from
    /// `rng` (a simulator's seeded generator).
    pub fn poll_with(
        &mut self,
        ctx: &mut CallContext<'_>,
        rng: &mut dyn RandomSource,
        now_ms: u64,
    ) -> CallStep {
        if self.done || self.attempts >= PATH_ATTEMPTS {
            self.done = true;
            ctx.unreachable.mark(&self.dest, now_ms);
            let error = self
                .last_error
                .take()
                .unwrap_or(ClientError::DestinationUnreachable);
            return CallStep::Done(Err(error));
        }
        self.attempts += 1;
        let path = match ctx.paths.path_for(ctx.nodes, &self.dest, now_ms, ctx.pick) {
            Ok(p) => p,
            Err(PathError::Backoff(wait)) => return CallStep::Wait(wait),
            Err(e) => return self.finish(Err(ClientError::NoPath(e))),
        };
        match OnionAttempt::build_with(rng, &path, &self.dest, &self.frame, self.work) {
            Ok(attempt) => CallStep::Send(Box::new(attempt)),
            Err(e) => self.finish(Err(ClientError::Onion(e))),
        }
    }

    fn finish(&mut self, result: Result<Response, ClientError>) -> CallStep {
        self.done = true;
        CallStep::Done(result)
    }

    /// Feed the guard's answer to `attempt`, sent at local time
    /// `sent_at_ms` and received (or failed) at `now_ms`. Returns the
    /// call's result when it is over, `None` when [`CallOp::poll`] should be
    /// called again. The destination's time, when it answered, becomes a
    /// sample of `ctx.clock`.
    pub fn handle_answer(
        &mut self,
        ctx: &mut CallContext<'_>,
        attempt: Box<OnionAttempt>,
        answer: Result<Response, ClientError>,
        sent_at_ms: u64,
        now_ms: u64,
    ) -> Option<Result<Response, ClientError>> {
        let outcome = attempt.classify(answer);
        let node_time = match &outcome {
            CallOutcome::Answer(resp) => Some(resp.node_time_ms),
            CallOutcome::DestinationFailed { node_time_ms, .. } => *node_time_ms,
            _ => None,
        };
        if let Some(node_time) = node_time {
            ctx.clock.add_exchange(sent_at_ms, now_ms, node_time);
        }
        let CallContext {
            paths,
            nodes,
            unreachable,
            pick,
            ..
        } = ctx;
        match outcome {
            CallOutcome::Answer(resp) => {
                paths.report_success(attempt.path(), now_ms);
                unreachable.clear(&self.dest);
                self.done = true;
                Some(Ok(resp))
            }
            CallOutcome::HopFailed { hop, error } => {
                tracing::debug!(hop, error = %error, "onion path failed; building another");
                paths.report_failure(attempt.path(), Some(hop), now_ms);
                if paths.ensure_guards(nodes, &mut **pick) {
                    self.guards_changed = true;
                }
                self.last_error = Some(error);
                None
            }
            CallOutcome::DestinationFailed { error, .. } => {
                paths.report_success(attempt.path(), now_ms);
                if matches!(error, ClientError::HopFailed { .. }) {
                    // Unreachable or timed out: not as a relay either, for a while.
                    paths.strike_node(&self.dest.id, now_ms);
                }
                unreachable.mark(&self.dest, now_ms);
                self.done = true;
                Some(Err(error))
            }
            CallOutcome::Fatal(error) => {
                self.done = true;
                Some(Err(error))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::paths::GuardState;
    use crate::testnet::{Fault, Net};
    use nightjar_crypto::identity::{Identity, Seed};
    use nightjar_crypto::onion::{HopFailure, Peeled, peel};

    const T0: u64 = 1_700_000_000_000;

    fn rng(seed: u64) -> impl FnMut(usize) -> usize {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        move |n| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % n as u64).unwrap()
        }
    }

    struct Client {
        paths: PathManager,
        unreachable: Unreachable,
        clock: ClockEstimator,
        /// Backoff waits seen.
        waits: usize,
    }

    impl Client {
        fn new(net: &Net) -> Client {
            let mut paths = PathManager::new(GuardState::default());
            assert!(paths.ensure_guards(&net.nodes, &mut rng(1)));
            Client {
                paths,
                unreachable: Unreachable::new(),
                clock: ClockEstimator::new(),
                waits: 0,
            }
        }

        /// The destination: a node that is not a guard.
        fn destination(&self, net: &Net) -> NodeEntry {
            net.nodes
                .iter()
                .find(|n| !self.paths.guards().contains(&n.id))
                .unwrap()
                .clone()
        }

        /// Run one call to `dest`, the network misbehaving as `faults` says
        /// attempt after attempt (then behaving). Returns the result and the
        /// paths tried.
        fn run(
            &mut self,
            net: &Net,
            dest: &NodeEntry,
            faults: &[Fault],
        ) -> (Result<Response, ClientError>, Vec<Path>) {
            let mut pick = rng(7);
            let mut op = CallOp::new(dest, &Request::Info, Duration::from_secs(10));
            let mut tried = Vec::new();
            let mut now = T0;
            loop {
                let mut ctx = CallContext {
                    paths: &mut self.paths,
                    nodes: &net.nodes,
                    unreachable: &mut self.unreachable,
                    clock: &mut self.clock,
                    pick: &mut pick,
                };
                let attempt = match op.poll(&mut ctx, now) {
                    CallStep::Send(a) => a,
                    CallStep::Wait(d) => {
                        self.waits += 1;
                        now += crate::paths::millis(d);
                        continue;
                    }
                    CallStep::Done(r) => return (r, tried),
                };
                tried.push(attempt.path().clone());
                let fault = faults.get(tried.len() - 1).copied().unwrap_or(Fault::None);
                let answer = net.carry(&attempt, fault, &|_| Response {
                    node_time_ms: now + 1_000,
                    body: ResponseBody::Error {
                        code: ErrorCode::Unavailable,
                        message: "answered".into(),
                    },
                });
                if let Some(r) = op.handle_answer(&mut ctx, attempt, answer, now, now + 20) {
                    return (r, tried);
                }
                now += 20;
            }
        }
    }

    #[test]
    fn per_hop_timeouts_grow_toward_the_guard_and_include_the_work() {
        let work = Duration::from_secs(10);
        assert_eq!(hop_waits_ms(3, work), [14_500, 13_000, 11_500]);
        assert_eq!(guard_timeout(3, work), Duration::from_millis(16_000));
        // A retrieve that waits 25 s gives every hop 25 s more.
        let waiting = crate::failover::work_with_wait(work, 25_000);
        assert_eq!(hop_waits_ms(3, waiting), [39_500, 38_000, 36_500]);
        assert_eq!(guard_timeout(3, waiting), Duration::from_millis(41_000));
    }

    #[test]
    fn the_onion_layers_carry_the_per_hop_timeouts() {
        let net = Net::new(8);
        let c = Client::new(&net);
        let dest = c.destination(&net);
        let mut paths = c.paths.clone();
        let path = paths.path_for(&net.nodes, &dest, T0, &mut rng(3)).unwrap();
        let work = Duration::from_secs(12);
        let attempt = OnionAttempt::build(&path, &dest, &Request::Info.to_frame(), work).unwrap();
        let Request::Onion(onion) = attempt.request() else {
            panic!("not an onion")
        };
        let (mut key, mut eph, mut layer) =
            (path.hops[0].id, onion.ephemeral_key, onion.layer.clone());
        let mut seen = Vec::new();
        for _ in 0..8 {
            let id = (1..=8u8)
                .map(|s| Identity::from_seed(Seed::from_bytes([s; 32])))
                .find(|id| id.public_key() == key.0)
                .unwrap();
            match peel(&id, &eph, &layer).unwrap().0 {
                Peeled::Forward {
                    next,
                    ephemeral_key,
                    timeout_ms,
                    layer: inner,
                } => {
                    seen.push(timeout_ms);
                    key = net
                        .nodes
                        .iter()
                        .find(|n| n.id.0.to_bytes() == next)
                        .unwrap()
                        .id;
                    eph = ephemeral_key;
                    layer = inner;
                }
                Peeled::Deliver { .. } => break,
            }
        }
        assert_eq!(seen, hop_waits_ms(3, work));
        assert_eq!(key, dest.id, "the last layer is the destination's");
    }

    #[test]
    fn an_answer_through_the_path_is_returned_and_clears_strikes() {
        let net = Net::new(8);
        let mut c = Client::new(&net);
        let dest = c.destination(&net);
        let (result, tried) = c.run(&net, &dest, &[]);
        let resp = result.unwrap();
        assert!(matches!(
            resp.body,
            ResponseBody::Error {
                code: ErrorCode::Unavailable,
                ..
            }
        ));
        assert_eq!(tried.len(), 1);
        assert!(
            c.clock.offset_ms().is_some(),
            "the destination's time is a clock sample"
        );
    }

    #[test]
    fn a_guard_refusal_strikes_the_guard_and_tries_another_path() {
        let net = Net::new(8);
        let mut c = Client::new(&net);
        let dest = c.destination(&net);
        let (result, tried) = c.run(&net, &dest, &[Fault::GuardRefuses]);
        assert!(result.is_ok());
        assert_eq!(tried.len(), 2);
        let guard = tried[0].guard().id;
        // The second path succeeded; if it went through the same guard its
        // strike was cleared, else the refusing guard keeps it.
        if tried[1].guard().id != guard {
            assert_eq!(c.paths.strikes_of(&guard), 1);
        }
        for relay in &tried[0].hops[1..] {
            if !tried[1].contains(&relay.id) {
                assert_eq!(c.paths.strikes_of(&relay.id), 0, "relays not blamed");
            }
        }
    }

    #[test]
    fn an_unreachable_guard_is_blamed_at_hop_zero() {
        let net = Net::new(8);
        let c = Client::new(&net);
        let dest = c.destination(&net);
        let mut paths = c.paths.clone();
        let path = paths.path_for(&net.nodes, &dest, T0, &mut rng(3)).unwrap();
        let attempt =
            OnionAttempt::build(&path, &dest, &Request::Info.to_frame(), Duration::ZERO).unwrap();
        let answer = net.carry(&attempt, Fault::GuardUnreachable, &|_| {
            Response::error(0, ErrorCode::Internal, "")
        });
        assert!(matches!(
            attempt.classify(answer),
            CallOutcome::HopFailed { hop: 0, .. }
        ));
        let answer = net.carry(&attempt, Fault::GuardRefuses, &|_| {
            Response::error(0, ErrorCode::Internal, "")
        });
        assert!(matches!(
            attempt.classify(answer),
            CallOutcome::HopFailed {
                hop: 0,
                error: ClientError::Refused { .. }
            }
        ));
    }

    #[test]
    fn a_hop_error_from_relay_one_strikes_relay_two_only() {
        let net = Net::new(8);
        let mut c = Client::new(&net);
        let dest = c.destination(&net);
        // Position 2 (relay 2) is silent: relay 1 reports HopFailed{hop: 1}.
        let (result, tried) = c.run(&net, &dest, &[Fault::Silent(2)]);
        assert!(result.is_ok());
        let failed = &tried[0];
        let relay2 = failed.hops[2].id;
        if !tried[1].contains(&relay2) {
            assert_eq!(c.paths.strikes_of(&relay2), 1);
        }
        for other in &failed.hops[..2] {
            if !tried[1].contains(&other.id) {
                assert_eq!(c.paths.strikes_of(&other.id), 0, "{other:?} not blamed");
            }
        }
    }

    #[test]
    fn a_relay_that_fails_every_time_ends_the_call_after_the_path_attempts() {
        let net = Net::new(8);
        let mut c = Client::new(&net);
        let dest = c.destination(&net);
        let faults = [Fault::Silent(1); PATH_ATTEMPTS];
        let (result, tried) = c.run(&net, &dest, &faults);
        // A build backoff counts as an attempt too.
        assert_eq!(tried.len() + c.waits, PATH_ATTEMPTS, "{result:?}");
        assert!(tried.len() >= 2);
        assert!(
            matches!(result, Err(ClientError::HopFailed { hop: 1, .. })),
            "{result:?}"
        );
        assert!(c.unreachable.is_recent(&dest, T0 + 1_000));
    }

    #[test]
    fn a_silent_destination_ends_the_call_without_striking_relays() {
        let net = Net::new(8);
        let mut c = Client::new(&net);
        let dest = c.destination(&net);
        let (result, tried) = c.run(&net, &dest, &[Fault::Silent(3)]);
        assert_eq!(tried.len(), 1, "no other path is tried");
        assert!(matches!(
            result,
            Err(ClientError::HopFailed {
                hop: 3,
                failure: HopFailure::TimedOut
            })
        ));
        for hop in &tried[0].hops {
            assert_eq!(c.paths.strikes_of(&hop.id), 0);
        }
        assert_eq!(c.paths.strikes_of(&dest.id), 1, "the destination is struck");
        assert!(c.unreachable.is_recent(&dest, T0));
    }

    #[test]
    fn an_unreadable_destination_answer_blames_the_destination() {
        let net = Net::new(8);
        let mut c = Client::new(&net);
        let dest = c.destination(&net);
        let (result, tried) = c.run(&net, &dest, &[Fault::DestinationGarbage]);
        assert_eq!(tried.len(), 1);
        assert!(
            matches!(result, Err(ClientError::Protocol(_))),
            "{result:?}"
        );
        for hop in &tried[0].hops {
            assert_eq!(c.paths.strikes_of(&hop.id), 0);
        }
        assert!(c.unreachable.is_recent(&dest, T0));
    }
}
