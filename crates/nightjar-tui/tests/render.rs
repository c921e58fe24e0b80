//! The app core driven through its public inputs (keys, daemon answers,
//! notifications) and drawn with ratatui's TestBackend: what each screen
//! shows, and that no screen panics at any size.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use nightjar_crypto::identity::Identity;
use nightjar_tui::model::{
    Account, Contact, Conversation, Direction, Message, Sent, Timer, TimerAfter,
};
use nightjar_tui::screens::{MIN_HEIGHT, MIN_WIDTH};
use nightjar_tui::{Action, App, RpcEvent, Screen};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const NOW: u64 = 1_765_000_000_000;

fn new_id() -> String {
    Identity::generate().unwrap().account_id().to_string()
}

/// The screen as text, one line per row.
fn draw(app: &App, w: u16, h: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| app.render(f)).unwrap();
    text_of(terminal.backend())
}

fn text_of(backend: &TestBackend) -> String {
    let buf = backend.buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

fn key(app: &mut App, code: KeyCode) -> Vec<Action> {
    app.handle_key(KeyEvent::new(code, KeyModifiers::NONE), NOW)
}

fn typed(app: &mut App, s: &str) -> Vec<Action> {
    let mut actions = Vec::new();
    for c in s.chars() {
        actions.extend(key(app, KeyCode::Char(c)));
    }
    actions
}

fn message(id: &str, dir: Direction, peer: &str, text: &str, at: u64) -> Message {
    Message {
        message_id: id.into(),
        direction: dir,
        peer: peer.into(),
        name: None,
        from: peer.into(),
        to: None,
        text: text.into(),
        sent_at: at,
        version: 2,
        expires_at: None,
        read: false,
    }
}

struct World {
    app: App,
    me: String,
    alice: String,
    stranger: String,
}

/// An app that knows its account, one contact (Alice, 3 unread, a timer)
/// and a conversation with a stranger.
fn world() -> World {
    let (me, alice, stranger) = (new_id(), new_id(), new_id());
    let mut app = App::new();
    assert_eq!(
        app.start(),
        vec![Action::Account, Action::Conversations, Action::Contacts]
    );
    app.handle_rpc(RpcEvent::Account(Ok(Account {
        account_id: me.clone(),
        device_id: "00112233445566778899aabbccddeeff".into(),
    })));
    app.handle_rpc(RpcEvent::Contacts(Ok(vec![Contact {
        name: "Alice".into(),
        account_id: alice.clone(),
    }])));
    app.handle_rpc(RpcEvent::Conversations(Ok(vec![
        Conversation {
            peer: alice.clone(),
            name: Some("Alice".into()),
            last: Some(message(
                "a1",
                Direction::In,
                &alice,
                "see you at noon",
                NOW - 60_000,
            )),
            unread: 3,
            timer: Some(Timer {
                duration_ms: 3_600_000,
                after: TimerAfter::Read,
            }),
        },
        Conversation {
            peer: stranger.clone(),
            name: None,
            last: Some(message(
                "s1",
                Direction::Out,
                &stranger,
                "who is this?",
                NOW - 120_000,
            )),
            unread: 0,
            timer: None,
        },
    ])));
    World {
        app,
        me,
        alice,
        stranger,
    }
}

#[test]
fn conversation_list_shows_names_unread_counts_timers_and_last_messages() {
    let w = world();
    let screen = draw(&w.app, 100, 30);
    assert!(
        screen.contains("Alice · 3 unread ⏱1h after read"),
        "{screen}"
    );
    assert!(screen.contains("see you at noon"), "{screen}");
    // No contact: the shortened ID, and the own last message marked.
    let short = format!("{}…", &w.stranger[..11]);
    assert!(screen.contains(&short), "{screen}");
    assert!(screen.contains("you: who is this?"), "{screen}");
    assert!(screen.contains("n new chat"), "the key hint line: {screen}");
}

#[test]
fn chat_shows_names_times_timer_and_each_delivery_state() {
    let mut w = world();
    let actions = key(&mut w.app, KeyCode::Enter);
    assert_eq!(
        actions,
        vec![
            Action::History {
                peer: w.alice.clone(),
                limit: 200
            },
            Action::MarkRead {
                peer: w.alice.clone()
            }
        ]
    );
    assert_eq!(w.app.screen(), Screen::Chat);
    assert!(draw(&w.app, 100, 30).contains("loading…"));
    w.app.handle_rpc(RpcEvent::History {
        peer: w.alice.clone(),
        result: Ok(vec![
            message("a0", Direction::Out, &w.alice, "lunch?", NOW - 120_000),
            message(
                "a1",
                Direction::In,
                &w.alice,
                "see you at noon",
                NOW - 60_000,
            ),
        ]),
    });
    typed(&mut w.app, "first");
    w.app
        .handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT), NOW);
    typed(&mut w.app, "line two");
    let send = key(&mut w.app, KeyCode::Enter);
    assert_eq!(
        send,
        vec![Action::Send {
            token: 1,
            to: w.alice.clone(),
            text: "first\nline two".into()
        }]
    );
    typed(&mut w.app, "doomed");
    assert_eq!(key(&mut w.app, KeyCode::Enter).len(), 1);
    let screen = draw(&w.app, 100, 30);
    assert!(screen.contains("Alice"), "{screen}");
    assert!(screen.contains("⏱ disappear 1h after reading"), "{screen}");
    assert!(screen.contains("see you at noon"), "{screen}");
    assert!(screen.contains("  line two"), "{screen}");
    assert_eq!(screen.matches("sending…").count(), 2, "{screen}");
    let clock = nightjar_tui::text::clock(NOW - 60_000);
    assert!(screen.contains(&format!("Alice {clock}")), "{screen}");

    let refresh = w.app.handle_rpc(RpcEvent::Sent {
        token: 1,
        result: Ok(Sent {
            message_id: "m1".into(),
            sent_at: NOW,
            version: 2,
            fallback: None,
            expires_at: None,
            to: w.alice.clone(),
        }),
    });
    assert_eq!(refresh, vec![Action::Conversations]);
    w.app.handle_rpc(RpcEvent::Sent {
        token: 2,
        result: Err("not enough usable nodes for an onion path".into()),
    });
    let screen = draw(&w.app, 100, 30);
    assert!(screen.contains("sending failed"), "status line: {screen}");
    assert!(
        screen.contains("✗ failed: not enough usable nodes"),
        "{screen}"
    );
    assert!(!screen.contains("sending…"), "{screen}");
    // The history's own message and the one just sent are stored.
    assert_eq!(screen.matches("✓ stored").count(), 2, "{screen}");
}

#[test]
fn live_messages_reach_the_open_chat_and_the_list() {
    let mut w = world();
    key(&mut w.app, KeyCode::Enter);
    w.app.handle_rpc(RpcEvent::History {
        peer: w.alice.clone(),
        result: Ok(vec![]),
    });
    // Into the open chat: shown and marked read at once.
    let mut m = message("live1", Direction::In, &w.alice, "are you there?", NOW);
    m.name = Some("Alice".into());
    let actions = w.app.handle_rpc(RpcEvent::Message(m.clone()));
    assert_eq!(
        actions,
        vec![Action::MarkRead {
            peer: w.alice.clone()
        }]
    );
    // The same notification twice shows once.
    w.app.handle_rpc(RpcEvent::Message(m));
    let screen = draw(&w.app, 100, 30);
    assert_eq!(screen.matches("are you there?").count(), 1, "{screen}");
    // Another conversation: its unread count grows and it moves to the top.
    key(&mut w.app, KeyCode::Esc);
    let actions = w.app.handle_rpc(RpcEvent::Message(message(
        "s2",
        Direction::In,
        &w.stranger,
        "it's me, \x1b[2Jyour bank",
        NOW + 1,
    )));
    assert!(actions.is_empty());
    let screen = draw(&w.app, 100, 30);
    assert!(screen.contains(" · 1 unread"), "{screen}");
    assert!(!screen.contains('\x1b'), "escape sequences are never drawn");
    assert!(screen.contains("it's me, \u{FFFD}[2Jyour bank"), "{screen}");
    let first_line_with_id = screen
        .lines()
        .position(|l| l.contains(&w.stranger[..11]))
        .unwrap();
    let first_alice = screen.lines().position(|l| l.contains("Alice ⏱")).unwrap();
    assert!(first_line_with_id < first_alice, "{screen}");
    // A message from someone new starts a conversation.
    let newcomer = new_id();
    w.app.handle_rpc(RpcEvent::Message(message(
        "n1",
        Direction::In,
        &newcomer,
        "hi!",
        NOW + 2,
    )));
    assert_eq!(w.app.conversations()[0].peer, newcomer);
    assert_eq!(w.app.conversations()[0].unread, 1);
}

#[test]
fn new_chat_validates_as_you_type() {
    let mut w = world();
    key(&mut w.app, KeyCode::Char('n'));
    assert_eq!(w.app.screen(), Screen::NewChat);
    assert!(draw(&w.app, 100, 30).contains("paste an Account ID (nj1…) or type a contact name"));
    // A truncated ID: the crypto crate's reason.
    let truncated = &w.stranger[..30];
    typed(&mut w.app, truncated);
    let screen = draw(&w.app, 100, 30);
    let why = truncated
        .parse::<nightjar_crypto::identity::AccountId>()
        .unwrap_err()
        .to_string();
    assert!(
        screen.contains(&format!("✗ {}", &why[..40])),
        "{why}\n{screen}"
    );
    assert!(
        key(&mut w.app, KeyCode::Enter).is_empty(),
        "an invalid ID opens nothing"
    );
    // The rest of it: valid.
    typed(&mut w.app, &w.stranger[30..]);
    assert!(draw(&w.app, 100, 30).contains("✓ valid Account ID"));
    // A contact's name.
    w.app.handle_key(
        KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL),
        NOW,
    );
    typed(&mut w.app, "Bob");
    assert!(draw(&w.app, 100, 30).contains("✗ no contact is named “Bob”"));
    w.app.handle_key(
        KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL),
        NOW,
    );
    w.app.handle_paste("Alice");
    assert!(draw(&w.app, 100, 30).contains("✓ contact Alice"));
    let actions = key(&mut w.app, KeyCode::Enter);
    assert_eq!(w.app.screen(), Screen::Chat);
    assert_eq!(w.app.open_peer(), Some(w.alice.as_str()));
    assert_eq!(actions.len(), 2);
}

#[test]
fn contacts_add_with_validation_and_remove_with_confirmation() {
    let mut w = world();
    key(&mut w.app, KeyCode::Char('c'));
    let screen = draw(&w.app, 100, 30);
    assert!(screen.contains(&format!("Alice  {}", w.alice)), "{screen}");
    key(&mut w.app, KeyCode::Char('a'));
    typed(&mut w.app, "Bob");
    key(&mut w.app, KeyCode::Tab);
    typed(&mut w.app, "nj1notvalid");
    let screen = draw(&w.app, 100, 30);
    assert!(screen.contains("add a contact"), "{screen}");
    assert!(screen.contains("name: Bob"), "{screen}");
    let why = "nj1notvalid"
        .parse::<nightjar_crypto::identity::AccountId>()
        .unwrap_err()
        .to_string();
    assert!(screen.contains(&format!("✗ {}", &why[..40])), "{screen}");
    assert!(key(&mut w.app, KeyCode::Enter).is_empty());
    for _ in 0.."nj1notvalid".len() {
        key(&mut w.app, KeyCode::Backspace);
    }
    let bob = new_id();
    w.app.handle_paste(&bob);
    assert!(draw(&w.app, 100, 30).contains("✓ valid Account ID"));
    let actions = key(&mut w.app, KeyCode::Enter);
    assert_eq!(
        actions,
        vec![Action::AddContact {
            name: "Bob".into(),
            account_id: bob.clone()
        }]
    );
    // The daemon refuses (say, a duplicate name): the form says why.
    w.app.handle_rpc(RpcEvent::ContactAdded(Err(
        "a contact named Bob exists".into()
    )));
    assert!(draw(&w.app, 100, 30).contains("✗ a contact named Bob exists"));
    let actions = w.app.handle_rpc(RpcEvent::ContactAdded(Ok(Contact {
        name: "Bob".into(),
        account_id: bob.clone(),
    })));
    assert_eq!(actions, vec![Action::Contacts, Action::Conversations]);
    assert!(draw(&w.app, 100, 30).contains("added contact Bob"));
    // Removing asks first.
    key(&mut w.app, KeyCode::Char('d'));
    assert!(draw(&w.app, 100, 30).contains("remove contact Alice? y to confirm"));
    assert!(key(&mut w.app, KeyCode::Char('n')).is_empty());
    key(&mut w.app, KeyCode::Char('d'));
    assert_eq!(
        key(&mut w.app, KeyCode::Char('y')),
        vec![Action::RemoveContact {
            name: "Alice".into()
        }]
    );
}

#[test]
fn my_account_shows_the_id_and_a_qr_code_when_it_fits() {
    let mut w = world();
    key(&mut w.app, KeyCode::Char('a'));
    let screen = draw(&w.app, 100, 40);
    assert!(screen.contains(&w.me), "{screen}");
    assert!(screen.contains("▀") && screen.contains("▄"), "{screen}");
    let qr_rows = screen
        .lines()
        .filter(|l| l.contains('▀') || l.contains('▄'))
        .count();
    assert!(qr_rows >= 15, "{screen}");
    let small = draw(&w.app, 40, 12);
    assert!(small.contains("the QR code"), "{small}");
}

#[test]
fn help_overlay_and_too_small_note() {
    let mut w = world();
    key(&mut w.app, KeyCode::Char('?'));
    assert!(w.app.help_shown());
    let screen = draw(&w.app, 100, 30);
    assert!(screen.contains("Help: Esc closes"), "{screen}");
    assert!(screen.contains("Alt-Enter, Ctrl-J"), "{screen}");
    key(&mut w.app, KeyCode::Esc);
    assert!(!w.app.help_shown());
    assert!(draw(&w.app, 19, 8).contains("too"));
    assert!(draw(&w.app, 30, 6).contains("terminal too small"));
    assert!(draw(&w.app, 20, 7).contains("Nightjar"));
}

#[test]
fn disconnection_is_shown() {
    let mut w = world();
    w.app
        .handle_rpc(RpcEvent::Disconnected("connection reset".into()));
    let screen = draw(&w.app, 100, 30);
    assert!(screen.contains("offline"), "{screen}");
    assert!(screen.contains("connection reset"), "{screen}");
    assert_eq!(key(&mut w.app, KeyCode::Char('q')), vec![Action::Quit]);
}

/// Every screen (and the help overlay over each) at every size from 1×1 to
/// 100×40: no panic.
#[test]
fn every_screen_at_every_size() {
    let mut w = world();
    let long = "a very long message that wraps many times ".repeat(20);
    let mut screens: Vec<App> = Vec::new();
    screens.push(w.app.clone());
    key(&mut w.app, KeyCode::Enter);
    w.app.handle_rpc(RpcEvent::History {
        peer: w.alice.clone(),
        result: Ok(vec![message("x", Direction::In, &w.alice, &long, NOW)]),
    });
    w.app
        .handle_paste(&format!("{long}\nsecond\nthird\nfourth\nfifth\nsixth"));
    key(&mut w.app, KeyCode::Up);
    screens.push(w.app.clone());
    key(&mut w.app, KeyCode::Esc);
    key(&mut w.app, KeyCode::Char('n'));
    w.app.handle_paste(&long);
    screens.push(w.app.clone());
    key(&mut w.app, KeyCode::Esc);
    key(&mut w.app, KeyCode::Char('c'));
    screens.push(w.app.clone());
    key(&mut w.app, KeyCode::Char('a'));
    w.app.handle_paste("日本語の名前");
    screens.push(w.app.clone());
    key(&mut w.app, KeyCode::Esc);
    key(&mut w.app, KeyCode::Esc);
    key(&mut w.app, KeyCode::Char('a'));
    screens.push(w.app.clone());
    let empty = App::new();
    screens.push(empty);
    let with_help: Vec<App> = screens
        .iter()
        .map(|a| {
            let mut a = a.clone();
            a.handle_key(KeyEvent::new(KeyCode::F(1), KeyModifiers::NONE), NOW);
            assert!(a.help_shown());
            a
        })
        .collect();
    screens.extend(with_help);
    let mut terminal = Terminal::new(TestBackend::new(1, 1)).unwrap();
    for app in &screens {
        for wdt in 1..=100u16 {
            for h in 1..=40u16 {
                terminal.backend_mut().resize(wdt, h);
                terminal
                    .resize(ratatui::layout::Rect::new(0, 0, wdt, h))
                    .unwrap();
                terminal.draw(|f| app.render(f)).unwrap();
                let too_small = wdt < MIN_WIDTH || h < MIN_HEIGHT;
                // Spot checks: the note below the minimum, the UI above it.
                if wdt == MIN_WIDTH && h == MIN_HEIGHT - 1 || wdt == 100 && h == 3 {
                    assert!(text_of(terminal.backend()).contains("too small"));
                }
                if !too_small && !app.help_shown() && (wdt + h) % 7 == 0 {
                    assert!(text_of(terminal.backend()).starts_with("Nightjar"));
                }
            }
        }
    }
}
