//! The driver: connects [`App`] to a real terminal (crossterm: raw mode,
//! the alternate screen, bracketed paste) and to a daemon ([`RpcClient`]).
//! It only moves bytes: keys and daemon answers go into the app, the app's
//! [`Action`]s become JSON-RPC calls, and the app is drawn after each.
//!
//! The terminal is restored on every way out: quitting, an error, a panic
//! (a panic hook restores it before the message is printed), SIGTERM,
//! SIGINT and SIGHUP (the terminal closed). The TUI writes nothing itself:
//! every change is one of the daemon's transactions, so killing the
//! terminal at any moment leaves the profile consistent. While it draws,
//! standard error goes to /dev/null (an in-process daemon's warnings would
//! land on the screen); Ctrl-L draws the whole screen again.

use std::io::Stdout;
use std::os::fd::OwnedFd;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossterm::event::{
    DisableBracketedPaste, EnableBracketedPaste, Event, KeyEvent, KeyEventKind,
};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use nightjar_rpc::methods::{
    self, ContactAddParams, ContactRemoveParams, HistoryParams, MarkReadParams, MarkReadResult,
    NoParams, SendParams, SubscribeResult,
};
use nightjar_rpc::{Notification, RpcClient, RpcError};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::action::{Action, RpcEvent};
use crate::app::App;
use crate::model::MessageNotification;

/// What can end the TUI with an error.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    /// The terminal could not be set up, read or drawn.
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
    /// The daemon refused or failed the start-up calls.
    #[error("daemon: {0}")]
    Rpc(#[from] RpcError),
}

/// Raw mode and the alternate screen while it lives; restored on drop.
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> Result<TerminalGuard, std::io::Error> {
        enable_raw_mode()?;
        let guard = TerminalGuard;
        execute!(
            std::io::stdout(),
            EnterAlternateScreen,
            EnableBracketedPaste
        )?;
        Ok(guard)
    }
}

/// Standard error as it was before the TUI, while the TUI has it
/// redirected (see [`StderrGuard`]).
static SAVED_STDERR: Mutex<Option<OwnedFd>> = Mutex::new(None);

/// While the TUI draws, standard error goes to /dev/null: a warning logged
/// by an in-process daemon would otherwise be written over the screen.
/// Restored on drop and by the panic hook, before a panic is printed.
struct StderrGuard;

impl StderrGuard {
    fn redirect() -> StderrGuard {
        let saved = nix::unistd::dup(std::io::stderr());
        let null = std::fs::OpenOptions::new().write(true).open("/dev/null");
        if let (Ok(saved), Ok(null)) = (saved, null)
            && nix::unistd::dup2_stderr(&null).is_ok()
            && let Ok(mut slot) = SAVED_STDERR.lock()
        {
            *slot = Some(saved);
        }
        StderrGuard
    }
}

impl Drop for StderrGuard {
    fn drop(&mut self) {
        restore_stderr();
    }
}

fn restore_stderr() {
    let saved = SAVED_STDERR.lock().ok().and_then(|mut s| s.take());
    if let Some(saved) = saved {
        let _ = nix::unistd::dup2_stderr(&saved);
    }
}

/// Leaves raw mode and the alternate screen (errors ignored: the terminal
/// may be gone), and gives standard error back.
fn restore_terminal() {
    let _ = execute!(
        std::io::stdout(),
        DisableBracketedPaste,
        LeaveAlternateScreen
    );
    let _ = disable_raw_mode();
    restore_stderr();
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Restores the terminal before a panic's message is printed.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis().min(u128::from(u64::MAX)) as u64)
        .unwrap_or(0)
}

/// Terminal events, read on their own thread (crossterm's reads block)
/// until the receiver is dropped.
fn spawn_terminal_reader() -> mpsc::UnboundedReceiver<Event> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        while !tx.is_closed() {
            match crossterm::event::poll(Duration::from_millis(100)) {
                Ok(true) => match crossterm::event::read() {
                    Ok(ev) => {
                        if tx.send(ev).is_err() {
                            return;
                        }
                    }
                    Err(_) => return,
                },
                Ok(false) => {}
                Err(_) => return,
            }
        }
    });
    rx
}

/// Makes one call for an action; its answer comes back on `results`.
fn dispatch(client: &RpcClient, action: Action, results: &mpsc::UnboundedSender<RpcEvent>) {
    let client = client.clone();
    let results = results.clone();
    tokio::spawn(async move {
        let event = match action {
            Action::Send { token, to, text } => RpcEvent::Sent {
                token,
                result: client
                    .call(
                        methods::SEND,
                        SendParams {
                            to,
                            text,
                            ttl: None,
                        },
                    )
                    .await
                    .map_err(|e| e.to_string()),
            },
            Action::History { peer, limit } => RpcEvent::History {
                result: client
                    .call(
                        methods::HISTORY,
                        HistoryParams {
                            peer: peer.clone(),
                            limit: Some(limit as usize),
                        },
                    )
                    .await
                    .map_err(|e| e.to_string()),
                peer,
            },
            Action::MarkRead { peer } => RpcEvent::MarkedRead {
                result: client
                    .call::<_, MarkReadResult>(
                        methods::MARK_READ,
                        MarkReadParams { peer: peer.clone() },
                    )
                    .await
                    .map(|r| r.marked as u64)
                    .map_err(|e| e.to_string()),
                peer,
            },
            Action::Account => RpcEvent::Account(
                client
                    .call(methods::ACCOUNT, NoParams {})
                    .await
                    .map_err(|e| e.to_string()),
            ),
            Action::Conversations => RpcEvent::Conversations(
                client
                    .call(methods::CONVERSATIONS, NoParams {})
                    .await
                    .map_err(|e| e.to_string()),
            ),
            Action::Contacts => RpcEvent::Contacts(
                client
                    .call(methods::CONTACT_LIST, NoParams {})
                    .await
                    .map_err(|e| e.to_string()),
            ),
            Action::AddContact { name, account_id } => RpcEvent::ContactAdded(
                client
                    .call(methods::CONTACT_ADD, ContactAddParams { name, account_id })
                    .await
                    .map_err(|e| e.to_string()),
            ),
            Action::RemoveContact { name } => RpcEvent::ContactRemoved(
                client
                    .call(methods::CONTACT_REMOVE, ContactRemoveParams { name })
                    .await
                    .map_err(|e| e.to_string()),
            ),
            Action::Quit => return,
        };
        let _ = results.send(event);
    });
}

/// Runs the TUI on this terminal against a connected daemon until the
/// user quits, the terminal closes or a signal asks to stop.
pub async fn run(
    client: RpcClient,
    mut notifications: mpsc::UnboundedReceiver<Notification>,
) -> Result<(), TuiError> {
    // Subscribe first: nothing that arrives while the lists load is lost.
    let _: SubscribeResult = client.call(methods::SUBSCRIBE, NoParams {}).await?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let mut interrupt = signal(SignalKind::interrupt())?;

    install_panic_hook();
    let _guard = TerminalGuard::enter()?;
    let _stderr = StderrGuard::redirect();
    let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
    terminal.clear()?;
    let mut keys = spawn_terminal_reader();
    let (results_tx, mut results) = mpsc::unbounded_channel();

    let mut app = App::new();
    for action in app.start() {
        dispatch(&client, action, &results_tx);
    }
    let mut notifications_open = true;
    loop {
        draw(&mut terminal, &app)?;
        let actions = tokio::select! {
            ev = keys.recv() => match ev {
                Some(Event::Key(key)) if is_redraw(&key) => {
                    terminal.clear()?;
                    Vec::new()
                }
                Some(Event::Key(key)) => on_key(&mut app, key),
                Some(Event::Paste(text)) => {
                    app.handle_paste(&text);
                    Vec::new()
                }
                // Resize and the rest: drawn again at the top of the loop.
                Some(_) => Vec::new(),
                None => break,
            },
            n = notifications.recv(), if notifications_open => match n {
                Some(n) if n.method == methods::MESSAGE => {
                    match serde_json::from_value::<MessageNotification>(n.params) {
                        Ok(m) => app.handle_rpc(RpcEvent::Message(m.message)),
                        Err(e) => {
                            tracing::debug!("unreadable message notification: {e}");
                            Vec::new()
                        }
                    }
                }
                Some(_) => Vec::new(),
                None => {
                    notifications_open = false;
                    app.handle_rpc(RpcEvent::Disconnected("the daemon closed the connection".into()))
                }
            },
            Some(event) = results.recv() => app.handle_rpc(event),
            _ = terminate.recv() => break,
            _ = hangup.recv() => break,
            _ = interrupt.recv() => break,
        };
        let mut quit = false;
        for action in actions {
            if action == Action::Quit {
                quit = true;
            } else {
                dispatch(&client, action, &results_tx);
            }
        }
        if quit {
            break;
        }
    }
    Ok(())
}

/// Ctrl-L: draw the whole screen again (after something else wrote on it).
fn is_redraw(key: &KeyEvent) -> bool {
    key.code == crossterm::event::KeyCode::Char('l')
        && key
            .modifiers
            .contains(crossterm::event::KeyModifiers::CONTROL)
        && key.kind != KeyEventKind::Release
}

fn on_key(app: &mut App, key: KeyEvent) -> Vec<Action> {
    if key.kind == KeyEventKind::Release {
        return Vec::new();
    }
    app.handle_key(key, now_ms())
}

fn draw(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    app: &App,
) -> Result<(), std::io::Error> {
    terminal.draw(|frame| app.render(frame))?;
    Ok(())
}
