//! `nightjar tui`: Nightjar's terminal client.
//!
//! - [`App`]: the sans-IO core (in the style of quinn-proto): the state
//!   (conversations with unread counts and last messages, the open chat's
//!   messages with each own message's [`delivery::Delivery`] state,
//!   contacts, the own Account ID, a status line); keys come in through
//!   [`App::handle_key`], daemon answers and `message` notifications
//!   through [`App::handle_rpc`], [`Action`]s (JSON-RPC calls to make) come
//!   out, and [`App::render`] draws into a ratatui frame of any size;
//! - [`screens`]: one module per screen (conversation list, chat, new
//!   chat, contacts, my account with its QR code, help);
//! - [`composer`]: multi-line text input; [`delivery`]: per-message
//!   delivery state; [`qr`]: the QR code as half blocks; [`text`]: making
//!   untrusted text safe to draw;
//! - [`driver`]: the crossterm event loop that connects the core to a
//!   terminal and to the profile's daemon over JSON-RPC.
//!
//! What it is **not** for: it holds no keys, opens no profile and talks to
//! no node: everything goes through the daemon's JSON-RPC interface
//! (`nightjar-rpc`), whose transactions keep the profile consistent however
//! the terminal ends. Groups and attachments do not exist yet and are not
//! shown.

#![forbid(unsafe_code)]

pub mod action;
pub mod app;
pub mod composer;
pub mod delivery;
pub mod driver;
pub mod model;
pub mod qr;
pub mod screens;
pub mod text;

pub use action::{Action, RpcEvent};
pub use app::{App, Screen};
pub use driver::{TuiError, run};
