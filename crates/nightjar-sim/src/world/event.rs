//! The simulator's events: what happens at one instant of virtual time.
//!
//! Events are ordered by time, then by the order they were scheduled, so a
//! run is a pure function of its options and seed. Each event is folded
//! into the trace hash (time, kind, the ids it names) when it runs.

use nightjar_node::engine::OpId;
use nightjar_wire::{Request, Response};

/// Who sent a request, so that its answer finds its way back.
#[derive(Debug, Clone, Copy)]
pub(crate) enum From {
    /// Account `account`'s operation `op`, attempt `flight`.
    Client { account: u32, op: u64, flight: u64 },
    /// Node `node`'s peer request `op`, sent in its incarnation `epoch`
    /// (a restarted node's core numbers its ops afresh); `repair` marks
    /// anti-entropy and hand-off traffic for the report.
    Node {
        node: u32,
        op: OpId,
        epoch: u32,
        repair: bool,
    },
}

/// One thing that happens at one instant.
#[derive(Debug)]
pub(crate) enum EvKind {
    /// Node `node`'s core asked to be woken now.
    NodeTimer { node: u32 },
    /// A request reaches node `node`.
    ToNode {
        node: u32,
        from: From,
        request: Box<Request>,
    },
    /// A peer's answer reaches node `node`'s op.
    PeerAnswer {
        node: u32,
        op: OpId,
        epoch: u32,
        response: Box<Response>,
    },
    /// A node's answer reaches an account's operation.
    ToClient {
        account: u32,
        op: u64,
        flight: u64,
        response: Box<Response>,
    },
    /// An account stops waiting for the answer of attempt `flight`.
    ClientDeadline { account: u32, op: u64, flight: u64 },
    /// An account may build a path again (its path backoff ended).
    ClientRetry { account: u32, op: u64 },
    /// An account sends a message.
    ClientSend { account: u32 },
    /// An account goes online or offline.
    Presence { account: u32 },
    /// Node `node` learns registry version `version`.
    NodeLearn { node: u32, version: u32 },
    /// A new node registers.
    Join,
    /// A node leaves gracefully (hand-off, then it stops).
    Exit,
    /// A node crashes (it stays registered and restarts).
    Crash,
    /// A crashed node comes back.
    Restart { node: u32 },
    /// An exiting node stops serving.
    ExitDone { node: u32 },
    /// A share of all nodes crashes at once.
    Correlated,
    /// Two members of every swarm crash with their disks (a test fault).
    KillTwo,
    /// The network splits in two.
    Partition,
    /// The partition heals.
    Heal,
    /// Check whether every replica is where it belongs.
    ConvergeCheck,
}

impl EvKind {
    /// A stable number per kind, for the trace hash.
    pub(crate) fn tag(&self) -> u8 {
        match self {
            EvKind::NodeTimer { .. } => 1,
            EvKind::ToNode { .. } => 2,
            EvKind::PeerAnswer { .. } => 3,
            EvKind::ToClient { .. } => 4,
            EvKind::ClientDeadline { .. } => 5,
            EvKind::ClientRetry { .. } => 6,
            EvKind::ClientSend { .. } => 7,
            EvKind::Presence { .. } => 8,
            EvKind::NodeLearn { .. } => 9,
            EvKind::Join => 10,
            EvKind::Exit => 11,
            EvKind::Crash => 12,
            EvKind::Restart { .. } => 13,
            EvKind::ExitDone { .. } => 14,
            EvKind::Correlated => 15,
            EvKind::KillTwo => 16,
            EvKind::Partition => 17,
            EvKind::Heal => 18,
            EvKind::ConvergeCheck => 19,
        }
    }

    /// The ids the event names, for the trace hash.
    pub(crate) fn ids(&self) -> (u64, u64) {
        match self {
            EvKind::NodeTimer { node } => (u64::from(*node), 0),
            EvKind::ToNode {
                node,
                from,
                request,
            } => {
                let f = match from {
                    From::Client {
                        account,
                        op,
                        flight,
                    } => (u64::from(*account) << 32) ^ op ^ (flight << 48),
                    From::Node {
                        node, op, epoch, ..
                    } => (u64::from(*node) << 40) ^ op.0 ^ (u64::from(*epoch) << 56) ^ 1,
                };
                (
                    u64::from(*node) ^ ((crate::rng::derive(0, request.kind(), 0) & 0xffff) << 40),
                    f,
                )
            }
            EvKind::PeerAnswer {
                node, op, epoch, ..
            } => (u64::from(*node) ^ (u64::from(*epoch) << 40), op.0),
            EvKind::ToClient {
                account,
                op,
                flight,
                ..
            }
            | EvKind::ClientDeadline {
                account,
                op,
                flight,
            } => (u64::from(*account) ^ (flight << 32), *op),
            EvKind::ClientRetry { account, op } => (u64::from(*account), *op),
            EvKind::ClientSend { account } | EvKind::Presence { account } => {
                (u64::from(*account), 0)
            }
            EvKind::NodeLearn { node, version } => (u64::from(*node), u64::from(*version)),
            EvKind::Restart { node } | EvKind::ExitDone { node } => (u64::from(*node), 0),
            _ => (0, 0),
        }
    }
}

/// An event and when it happens.
pub(crate) struct Ev {
    pub(crate) at: u64,
    pub(crate) seq: u64,
    pub(crate) kind: EvKind,
}

impl PartialEq for Ev {
    fn eq(&self, o: &Ev) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Ev {}
impl PartialOrd for Ev {
    fn partial_cmp(&self, o: &Ev) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ev {
    fn cmp(&self, o: &Ev) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}
