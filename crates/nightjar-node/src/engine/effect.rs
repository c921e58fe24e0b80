//! What a [`super::NodeCore`] asks its driver to do, and the ids that tie
//! the driver's answers back to the core's state.

use nightjar_registry::NodeEntry;
use nightjar_store::StoreCommand;
use nightjar_types::AccountKey;
use nightjar_wire::{Request, Response};

/// One incoming request (a QUIC stream), numbered by the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// One store command or peer request the core emitted, numbered by the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub u64);

/// Why a peer request got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerFailure {
    /// No connection, or the stream failed.
    Unreachable,
    /// No answer within the request's `timeout_ms`.
    TimedOut,
    /// Not sent: too many requests to that node are in flight and waiting
    /// already (the core's per-node bound, or the driver's own limit).
    Overloaded,
}

/// Something the driver must do, drained with [`super::NodeCore::poll_effect`].
#[derive(Debug)]
pub enum Effect {
    /// Write `response` on the stream of request `id` (then the request is over).
    Reply {
        /// The request answered.
        id: RequestId,
        /// The answer.
        response: Response,
    },
    /// Run `command` on the store; hand the answer to
    /// [`super::NodeCore::handle_store_reply`] with `op`.
    Store {
        /// Names the answer.
        op: OpId,
        /// The operation.
        command: StoreCommand,
    },
    /// Send `request` to the node `to`; hand its answer (or
    /// [`PeerFailure::TimedOut`] after `timeout_ms`) to
    /// [`super::NodeCore::handle_peer_answer`] with `op`.
    SendToPeer {
        /// Names the answer.
        op: OpId,
        /// The node.
        to: NodeEntry,
        /// The request (boxed: effects queue up, and a request is large).
        request: Box<Request>,
        /// How long to wait for the answer.
        timeout_ms: u64,
    },
    /// Abandon the peer request `op` (its answer is no longer wanted).
    CancelPeer {
        /// The request to abandon.
        op: OpId,
    },
    /// For metrics and logs.
    Event(CoreEvent),
}

/// What happened, for the driver's metrics and logs. Carries no IP
/// addresses, account ids or message data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreEvent {
    /// A request of `kind` was answered with `outcome` (`ok` or an error
    /// code's name). An onion request delivered here is counted twice: its
    /// inner request, then `onion_deliver`.
    Answered {
        /// The request.
        id: RequestId,
        /// The request kind (`Request::kind`, `invalid`, `onion_relay`, `onion_deliver`).
        kind: &'static str,
        /// `ok` or the error code's name.
        outcome: &'static str,
    },
    /// An anti-entropy round (and its hand-off) finished.
    SyncRound {
        /// Messages pulled from swarm peers.
        pulled: u64,
        /// Tombstones pulled.
        tombstones: u64,
        /// Messages handed to their new swarm (with a verified quorum).
        handed_off: u64,
    },
    /// Expired messages purged.
    Purged {
        /// How many.
        count: u64,
    },
    /// This node signed one receipt tree.
    ReceiptsSigned {
        /// The messages (leaves) it covers.
        messages: usize,
    },
    /// How many retrieves are parked waiting for a message now.
    WaitingRetrieves(usize),
    /// A store command failed (not a quota refusal).
    StoreFailed {
        /// Which operation (`store`, `delete`, ...).
        what: &'static str,
    },
    /// Test networks only ([`super::CoreConfig::report_accounts`]): an
    /// onion layer delivered here a request for `account`.
    DeliveredFor {
        /// The account the inner request names.
        account: AccountKey,
        /// It reads the mailbox (a retrieve or a delete).
        read: bool,
    },
    /// A peer request failed or was answered without a valid receipt.
    PeerFailed {
        /// What the request was for (`replicate`, `delete_forward`, `sync`, `relay`, `hand_off`).
        what: &'static str,
    },
}
