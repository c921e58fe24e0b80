//! The protocol's constants: version and ALPN, frame and message size
//! limits, count limits, TTL bounds and the clock window.
//!
//! Not for: checking them — the decoders in `codec` enforce these limits,
//! and nodes enforce the clock window.

/// The protocol version carried in every request and response.
pub const PROTOCOL_VERSION: u32 = 1;

/// The TLS ALPN identifier of this protocol version.
pub const ALPN: &[u8] = b"nightjar/1";

/// Largest request frame a node reads, length prefix included (128 KiB: a
/// maximal onion layer of [`MAX_ONION_LAYER`] bytes, or one maximal message,
/// plus room for the other fields).
pub const MAX_REQUEST_FRAME: usize = 128 * 1024;

/// Largest response frame a client reads, length prefix included (9 MiB: a
/// maximal onion answer, 8,454,144 bytes of padded response plus 18 bytes per
/// hop, plus room for the other fields).
pub const MAX_RESPONSE_FRAME: usize = 9 * 1024 * 1024;

/// Largest message (`data` of a store) a node accepts, in bytes.
pub const MAX_MESSAGE_SIZE: usize = 76_800;

/// Shortest time to live a node accepts.
pub const MIN_TTL_MS: u64 = 10_000;

/// Longest time to live a node accepts (14 days).
pub const MAX_TTL_MS: u64 = 14 * 24 * 60 * 60 * 1000;

/// Longest a retrieve may ask the node to wait for a new message.
pub const MAX_WAIT_MS: u32 = 30_000;

/// How far a signed request's timestamp may be from the node's clock, either way.
pub const CLOCK_WINDOW_MS: u64 = 60_000;

/// Most message hashes one delete request may name.
pub const MAX_DELETE_HASHES: usize = 1_000;

/// Most bytes of message data one retrieve response carries.
pub const MAX_RETRIEVE_BYTES: usize = 7_800_000;

/// Most messages one retrieve response carries.
pub const MAX_RETRIEVE_MESSAGES: usize = 1_000;

/// The namespace of direct messages.
pub const NAMESPACE_DEFAULT: u16 = 0;

/// Most buckets a sync digest request may ask for.
pub const MAX_SYNC_BUCKETS: u32 = 1024;

/// Most entries one sync list response carries (the rest is marked truncated).
pub const MAX_SYNC_ENTRIES: usize = 20_000;

/// Most messages one sync fetch may name (their data must fit a response frame).
pub const MAX_FETCH_KEYS: usize = 100;

/// Most nodes a swarm description may list.
pub const MAX_SWARM_NODES: usize = 64;

/// Most receipts a store response may carry.
pub const MAX_RECEIPTS: usize = 64;

/// Most leaves a receipt's tree may have (`tree_size`); equal to
/// `nightjar_crypto::receipt_tree::MAX_LEAVES`.
pub const MAX_RECEIPT_TREE: u32 = 1 << 16;

/// Most hashes a receipt's inclusion path may carry (`log2` of
/// [`MAX_RECEIPT_TREE`]).
pub const MAX_RECEIPT_PATH: usize = 16;

/// Longest onion `layer` a request may carry, in bytes (at least
/// `nightjar_crypto::onion::MAX_LAYER_LEN`, 98,924).
pub const MAX_ONION_LAYER: usize = 100_000;

/// Most hops an onion path may have: an onion request's `hop` is below this.
pub const MAX_ONION_HOPS: u32 = 8;

/// Longest registry text a `Registry` response may carry (4 MiB, the limit of
/// a registry file).
pub const MAX_REGISTRY_TEXT: usize = 4 * 1024 * 1024;
