//! What the daemon answers, as the TUI reads it: the JSON shapes of the
//! local JSON-RPC interface (docs/CLI.md, "nightjar daemon"). Unknown keys
//! are ignored, so the daemon can add fields without breaking the TUI.

use serde::Deserialize;

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Received from the peer.
    In,
    /// Sent by this account (this device or another of its devices).
    Out,
}

/// One message (`Message` of the RPC interface).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Message {
    /// The message's ID (hex).
    pub message_id: String,
    /// In or out.
    pub direction: Direction,
    /// The other party's Account ID.
    pub peer: String,
    /// The other party's contact name, if any.
    #[serde(default)]
    pub name: Option<String>,
    /// The text.
    pub text: String,
    /// When it was sent (Unix ms, the sender's clock).
    pub sent_at: u64,
    /// When it disappears (Unix ms), if a timer runs.
    #[serde(default)]
    pub expires_at: Option<u64>,
    /// Whether it was shown (read) before.
    #[serde(default)]
    pub read: bool,
}

/// When a disappearing-message timer starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimerAfter {
    /// From sending.
    Send,
    /// From first showing.
    Read,
}

/// A conversation's disappearing-message timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Timer {
    /// How long messages live.
    pub duration_ms: u64,
    /// When the time starts.
    pub after: TimerAfter,
}

/// One conversation (`Conversation` of the RPC interface).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Conversation {
    /// The other party's Account ID.
    pub peer: String,
    /// Its contact name, if any.
    #[serde(default)]
    pub name: Option<String>,
    /// The newest message.
    #[serde(default)]
    pub last: Option<Message>,
    /// Incoming messages not read yet.
    #[serde(default)]
    pub unread: u64,
    /// The disappearing-message timer, if set.
    #[serde(default)]
    pub timer: Option<Timer>,
}

/// A contact: a name for an Account ID.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Contact {
    /// The name (unique in the profile).
    pub name: String,
    /// Its Account ID.
    pub account_id: String,
}

/// This profile's account (`account` result).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Account {
    /// The Account ID (nj1…).
    pub account_id: String,
    /// This device's ID.
    #[serde(default)]
    pub device_id: String,
}

/// What `send` answers once the swarm stored the message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Sent {
    /// The new message's ID.
    pub message_id: String,
    /// When it was sent (Unix ms).
    pub sent_at: u64,
    /// Why an older message version was used, if one was.
    #[serde(default)]
    pub fallback: Option<String>,
    /// When it disappears, if a timer runs from sending.
    #[serde(default)]
    pub expires_at: Option<u64>,
    /// The resolved recipient Account ID.
    pub to: String,
}

/// The `params` of a `message` notification.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MessageNotification {
    /// The subscription it belongs to.
    #[serde(default)]
    pub subscription: u64,
    /// The message.
    pub message: Message,
}
