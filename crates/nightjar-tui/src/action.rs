//! The app core's outputs ([`Action`]: calls for the driver to make) and
//! inputs from the daemon ([`RpcEvent`]: their results and notifications).

use crate::model::{Account, Contact, Conversation, Message, Sent};

/// Something the driver must do for the app: a JSON-RPC call (whose result
/// comes back as an [`RpcEvent`]) or quitting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `send {to, text}`; the answer comes back as [`RpcEvent::Sent`] with
    /// the same `token`.
    Send {
        /// Matches the answer to the message shown as "sending".
        token: u64,
        /// The recipient's Account ID.
        to: String,
        /// The text.
        text: String,
    },
    /// `history {peer, limit}`.
    History {
        /// The other party's Account ID.
        peer: String,
        /// How many of the newest messages.
        limit: u32,
    },
    /// `mark_read {peer}`.
    MarkRead {
        /// The other party's Account ID.
        peer: String,
    },
    /// `account {}`.
    Account,
    /// `conversations {}`.
    Conversations,
    /// `contact.list {}`.
    Contacts,
    /// `contact.add {name, account_id}`.
    AddContact {
        /// The name.
        name: String,
        /// The Account ID.
        account_id: String,
    },
    /// `contact.remove {name}`.
    RemoveContact {
        /// The contact's name.
        name: String,
    },
    /// Leave the TUI.
    Quit,
}

/// A result or notification from the daemon, handed to
/// [`crate::App::handle_rpc`]. Errors are the daemon's (or the
/// connection's) message text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcEvent {
    /// `account` answered.
    Account(Result<Account, String>),
    /// `conversations` answered.
    Conversations(Result<Vec<Conversation>, String>),
    /// `contact.list` answered.
    Contacts(Result<Vec<Contact>, String>),
    /// `history` answered.
    History {
        /// The peer asked for.
        peer: String,
        /// Oldest first.
        result: Result<Vec<Message>, String>,
    },
    /// `send` answered.
    Sent {
        /// The token of [`Action::Send`].
        token: u64,
        /// The result.
        result: Result<Sent, String>,
    },
    /// `mark_read` answered.
    MarkedRead {
        /// The peer.
        peer: String,
        /// How many were marked, or why not.
        result: Result<u64, String>,
    },
    /// `contact.add` answered.
    ContactAdded(Result<Contact, String>),
    /// `contact.remove` answered.
    ContactRemoved(Result<Contact, String>),
    /// A `message` notification: a message arrived or was sent.
    Message(Message),
    /// The connection to the daemon is gone.
    Disconnected(String),
}
