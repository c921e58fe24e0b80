//! Every method of the daemon: its name (`pub const`), its parameters and
//! its result, as serde structs; and the `message` notification.
//!
//! Parameter structs refuse unknown fields, so a misspelt parameter is an
//! error (-32602) rather than silently ignored. Methods without parameters
//! take `{}` (or none).

use serde::{Deserialize, Serialize};

/// `account`: `{}` → [`AccountResult`].
pub const ACCOUNT: &str = "account";
/// `status`: `{}` → [`StatusResult`].
pub const STATUS: &str = "status";
/// `send`: [`SendParams`] → [`SendResult`].
pub const SEND: &str = "send";
/// `inbox`: `{}` → `[`[`Message`]`]`, the messages not shown before, which become shown.
pub const INBOX: &str = "inbox";
/// `conversations`: `{}` → `[`[`Conversation`]`]`, most recent first.
pub const CONVERSATIONS: &str = "conversations";
/// `history`: [`HistoryParams`] → `[`[`Message`]`]`, oldest first.
pub const HISTORY: &str = "history";
/// `mark_read`: [`MarkReadParams`] → [`MarkReadResult`].
pub const MARK_READ: &str = "mark_read";
/// `contact.add`: [`ContactAddParams`] → [`Contact`].
pub const CONTACT_ADD: &str = "contact.add";
/// `contact.list`: `{}` → `[`[`Contact`]`]`, sorted by name.
pub const CONTACT_LIST: &str = "contact.list";
/// `contact.remove`: [`ContactRemoveParams`] → [`Contact`] (the removed one).
pub const CONTACT_REMOVE: &str = "contact.remove";
/// `device.list`: `{}` → `[`[`DeviceEntry`]`]`.
pub const DEVICE_LIST: &str = "device.list";
/// `device.remove`: [`DeviceRemoveParams`] → [`DeviceRemoveResult`].
pub const DEVICE_REMOVE: &str = "device.remove";
/// `timer.set`: [`TimerSetParams`] → [`TimerSetResult`].
pub const TIMER_SET: &str = "timer.set";
/// `subscribe`: `{}` → [`SubscribeResult`]; then [`MESSAGE`] notifications.
pub const SUBSCRIBE: &str = "subscribe";
/// `unsubscribe`: [`UnsubscribeParams`] → [`UnsubscribeResult`].
pub const UNSUBSCRIBE: &str = "unsubscribe";
/// The notification a subscription receives for every message: [`MessageNotification`].
pub const MESSAGE: &str = "message";

/// How many messages `history` returns without a `limit`.
pub const HISTORY_DEFAULT_LIMIT: usize = 200;
/// The largest `limit` `history` accepts.
pub const HISTORY_MAX_LIMIT: usize = 10_000;
/// The default `ttl` of `send`, seconds (14 days).
pub const DEFAULT_TTL_SECS: u64 = 14 * 24 * 3600;

/// Parameters of the methods that take none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

/// Result of `account`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountResult {
    /// This profile's Account ID (nj1…).
    pub account_id: String,
    /// This device's ID (32 hex digits).
    pub device_id: String,
}

/// Result of `status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusResult {
    /// This profile's Account ID.
    pub account_id: String,
    /// The network's name (from its network file).
    pub network: String,
    /// How many guards the client holds.
    pub guards: usize,
    /// How many onion paths are built.
    pub paths: usize,
    /// How many subscriptions are open.
    pub subscribers: usize,
    /// How long the daemon has run, ms.
    pub uptime_ms: u64,
}

/// Parameters of `send`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendParams {
    /// The recipient: an Account ID (nj1…) or a contact name.
    pub to: String,
    /// The text.
    pub text: String,
    /// How long the network keeps it, seconds (default [`DEFAULT_TTL_SECS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
}

/// Result of `send`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendResult {
    /// The message ID.
    pub message_id: String,
    /// When it was sent, Unix ms.
    pub sent_at: u64,
    /// 1 or 2 (messages-v2).
    pub version: u8,
    /// Why it went as version 1 when version 2 was not possible, if so.
    pub fallback: Option<String>,
    /// When it disappears (a timer after sending), Unix ms.
    pub expires_at: Option<u64>,
    /// The recipient's Account ID (the contact name resolved).
    pub to: String,
}

/// Which way a message went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Received.
    In,
    /// Sent (by this device or another device of the account).
    Out,
}

/// A message as every method and notification shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The message ID.
    pub message_id: String,
    /// In or out.
    pub direction: Direction,
    /// The other party's Account ID.
    pub peer: String,
    /// The other party's contact name, if any.
    pub name: Option<String>,
    /// The sender's Account ID (this account's for `out`).
    pub from: String,
    /// The recipient's Account ID (only for `out`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The text.
    pub text: String,
    /// The sender's clock when sent, Unix ms.
    pub sent_at: u64,
    /// 1 or 2.
    pub version: u8,
    /// When it disappears, Unix ms (only with a timer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Whether it was shown (read) before; `out` messages are always read.
    pub read: bool,
}

/// When a disappearing timer starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimerAfter {
    /// When the message is sent.
    #[default]
    Send,
    /// When it is first shown.
    Read,
}

/// A conversation's disappearing-message timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timer {
    /// How long messages live, ms.
    pub duration_ms: u64,
    /// When the time starts.
    pub after: TimerAfter,
}

/// One conversation of `conversations`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    /// The other party's Account ID.
    pub peer: String,
    /// Its contact name, if any.
    pub name: Option<String>,
    /// The last message, if any is kept.
    pub last: Option<Message>,
    /// How many incoming messages were not shown yet.
    pub unread: usize,
    /// The disappearing timer, if set.
    pub timer: Option<Timer>,
}

/// Parameters of `history`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    /// Account ID or contact name.
    pub peer: String,
    /// How many of the last messages (default [`HISTORY_DEFAULT_LIMIT`], at
    /// most [`HISTORY_MAX_LIMIT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// Parameters of `mark_read`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkReadParams {
    /// Account ID or contact name.
    pub peer: String,
}

/// Result of `mark_read`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkReadResult {
    /// How many messages became read.
    pub marked: usize,
}

/// A contact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// Its name.
    pub name: String,
    /// Its Account ID.
    pub account_id: String,
}

/// Parameters of `contact.add`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactAddParams {
    /// The name.
    pub name: String,
    /// The Account ID (nj1…).
    pub account_id: String,
}

/// Parameters of `contact.remove`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactRemoveParams {
    /// A contact name or an Account ID.
    pub name: String,
}

/// One device of `device.list`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceEntry {
    /// The device ID (32 hex digits).
    pub device_id: String,
    /// Whether it is the daemon's own device.
    pub this_device: bool,
    /// When it was added, Unix ms, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_at: Option<u64>,
    /// Its name, as the device list has it (an addition to the spec's keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Parameters of `device.remove`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceRemoveParams {
    /// The device ID to remove.
    pub device_id: String,
}

/// Result of `device.remove`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRemoveResult {
    /// The removed device ID.
    pub removed: String,
}

/// Parameters of `timer.set`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimerSetParams {
    /// Account ID or contact name.
    pub peer: String,
    /// How long messages live, ms; `null` turns the timer off.
    pub duration_ms: Option<u64>,
    /// When the time starts (default `send`).
    #[serde(default)]
    pub after: TimerAfter,
}

/// Result of `timer.set`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimerSetResult {
    /// The peer's Account ID.
    pub peer: String,
    /// The duration set, ms, or `null` (off).
    pub duration_ms: Option<u64>,
    /// When the time starts.
    pub after: TimerAfter,
}

/// Result of `subscribe`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribeResult {
    /// The subscription's number, repeated in each notification.
    pub subscription: u64,
}

/// Parameters of `unsubscribe`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnsubscribeParams {
    /// The subscription to end.
    pub subscription: u64,
}

/// Result of `unsubscribe`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnsubscribeResult {
    /// Always `true`.
    pub unsubscribed: bool,
}

/// Parameters of the [`MESSAGE`] notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageNotification {
    /// The subscription it belongs to.
    pub subscription: u64,
    /// The message.
    pub message: Message,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    #[test]
    fn shapes_match_the_spec() {
        let m = Message {
            message_id: "ab".into(),
            direction: Direction::Out,
            peer: "nj1p".into(),
            name: None,
            from: "nj1me".into(),
            to: Some("nj1p".into()),
            text: "hi".into(),
            sent_at: 5,
            version: 2,
            expires_at: None,
            read: true,
        };
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!({"message_id":"ab","direction":"out","peer":"nj1p","name":null,"from":"nj1me",
                   "to":"nj1p","text":"hi","sent_at":5,"version":2,"read":true})
        );
        let p: TimerSetParams =
            serde_json::from_value(json!({"peer":"bob","duration_ms":null})).unwrap();
        assert_eq!(p.after, TimerAfter::Send);
        assert!(serde_json::from_value::<SendParams>(json!({"to":"a","text":5})).is_err());
        assert!(serde_json::from_value::<SendParams>(json!({"to":"a","txt":"x"})).is_err());
        assert!(serde_json::from_value::<NoParams>(json!({})).is_ok());
    }
}
