//! What the daemon answers, as the TUI reads it: the JSON shapes of the
//! local JSON-RPC interface, from `nightjar_rpc::methods` (one definition
//! for the daemon and its clients), under the names the app uses.

pub use nightjar_rpc::methods::{
    AccountResult as Account, Contact, Conversation, Direction, Message, MessageNotification,
    SendResult as Sent, Timer, TimerAfter,
};
