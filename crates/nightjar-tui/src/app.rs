//! The app core: all state, what keys and daemon answers do to it, and
//! which calls to make. No terminal, socket or clock: keys and answers come
//! in, [`Action`]s go out, and [`App::render`] draws into a ratatui frame.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use nightjar_crypto::identity::AccountId;

use crate::action::{Action, RpcEvent};
use crate::composer::{Composer, Edit};
use crate::delivery::Thread;
use crate::model::{Account, Contact, Conversation, Direction, Message};
use crate::text;

/// How many of a chat's newest messages are loaded when it opens.
pub const HISTORY_LIMIT: u32 = 200;

/// Which screen is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// The conversation list (the start screen).
    Conversations,
    /// One chat and its composer.
    Chat,
    /// Starting a chat: an Account ID or a contact name.
    NewChat,
    /// The contacts: list, add, remove.
    Contacts,
    /// This account's ID and its QR code.
    Account,
}

/// How the status line is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    /// Neutral information.
    Info,
    /// Something failed.
    Error,
}

/// The status line: the last thing that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// What to show.
    pub text: String,
    /// How.
    pub kind: StatusKind,
}

/// The contact form's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The name.
    Name,
    /// The Account ID.
    AccountId,
}

/// Adding a contact: a name and an Account ID, validated as typed.
#[derive(Debug, Clone)]
pub struct ContactForm {
    /// The name field.
    pub name: Composer,
    /// The Account ID field.
    pub account_id: Composer,
    /// Which field has the cursor.
    pub focus: Field,
    /// The daemon's refusal of the last try, if any.
    pub error: Option<String>,
    /// Sent to the daemon; waiting for its answer.
    pub pending: bool,
}

/// What the new-chat input resolves to, as shown while typing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Nothing typed yet.
    Empty,
    /// A contact's name.
    Contact {
        /// The contact's name.
        name: String,
        /// Its Account ID.
        account_id: String,
    },
    /// A valid Account ID (and its contact name, if it has one).
    AccountId {
        /// The canonical (lower-case) ID.
        account_id: String,
        /// The contact with that ID, if any.
        name: Option<String>,
    },
    /// Neither: why the text is not a valid Account ID.
    Invalid(String),
}

/// The open chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenChat {
    /// The other party's Account ID.
    pub peer: String,
    /// Whether its history arrived.
    pub loaded: bool,
    /// Lines scrolled up from the newest.
    pub scroll: usize,
}

/// The whole TUI state. See the module docs.
#[derive(Debug, Clone)]
pub struct App {
    pub(crate) account: Option<Account>,
    pub(crate) conversations: Vec<Conversation>,
    pub(crate) selected: usize,
    pub(crate) contacts: Vec<Contact>,
    pub(crate) contact_selected: usize,
    pub(crate) screen: Screen,
    pub(crate) help: bool,
    pub(crate) chat: Option<OpenChat>,
    pub(crate) threads: BTreeMap<String, Thread>,
    pub(crate) composer: Composer,
    pub(crate) new_chat: Composer,
    pub(crate) contact_form: Option<ContactForm>,
    pub(crate) confirm_remove: Option<String>,
    pub(crate) status: Option<Status>,
    pub(crate) connected: bool,
    next_token: u64,
}

impl Default for App {
    fn default() -> App {
        App::new()
    }
}

impl App {
    /// An app with nothing loaded yet.
    pub fn new() -> App {
        App {
            account: None,
            conversations: Vec::new(),
            selected: 0,
            contacts: Vec::new(),
            contact_selected: 0,
            screen: Screen::Conversations,
            help: false,
            chat: None,
            threads: BTreeMap::new(),
            composer: Composer::multiline(),
            new_chat: Composer::single_line(),
            contact_form: None,
            confirm_remove: None,
            status: Some(Status {
                text: "connecting to the daemon…".to_owned(),
                kind: StatusKind::Info,
            }),
            connected: true,
            next_token: 1,
        }
    }

    /// The calls to make at start: account, conversations, contacts (the
    /// driver subscribes before, so nothing arriving in between is lost).
    pub fn start(&self) -> Vec<Action> {
        vec![Action::Account, Action::Conversations, Action::Contacts]
    }

    /// The screen shown.
    pub fn screen(&self) -> Screen {
        self.screen
    }

    /// Whether the help overlay is shown.
    pub fn help_shown(&self) -> bool {
        self.help
    }

    /// The status line, if any.
    pub fn status(&self) -> Option<&Status> {
        self.status.as_ref()
    }

    /// The open chat's peer, if a chat is open.
    pub fn open_peer(&self) -> Option<&str> {
        match (&self.chat, self.screen) {
            (Some(chat), Screen::Chat) => Some(chat.peer.as_str()),
            _ => None,
        }
    }

    /// The conversations, most recent first.
    pub fn conversations(&self) -> &[Conversation] {
        &self.conversations
    }

    /// The messages of a peer's chat, as far as loaded.
    pub fn thread(&self, peer: &str) -> Option<&Thread> {
        self.threads.get(peer)
    }

    fn info(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            kind: StatusKind::Info,
        });
    }

    fn error(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            kind: StatusKind::Error,
        });
    }

    /// The name to show for an Account ID: its contact name, else the name
    /// the daemon gave, else the shortened ID.
    pub fn display_name(&self, peer: &str) -> String {
        if let Some(c) = self.contacts.iter().find(|c| c.account_id == peer) {
            return text::sanitize(&c.name);
        }
        if let Some(name) = self
            .conversations
            .iter()
            .find(|c| c.peer == peer)
            .and_then(|c| c.name.as_deref())
        {
            return text::sanitize(name);
        }
        text::short_id(peer)
    }

    /// What the new-chat input (or any text) resolves to.
    pub fn resolve(&self, input: &str) -> Target {
        let input = input.trim();
        if input.is_empty() {
            return Target::Empty;
        }
        if let Some(c) = self.contacts.iter().find(|c| c.name == input) {
            return Target::Contact {
                name: c.name.clone(),
                account_id: c.account_id.clone(),
            };
        }
        match input.parse::<AccountId>() {
            Ok(id) => {
                let account_id = id.to_string();
                let name = self
                    .contacts
                    .iter()
                    .find(|c| c.account_id == account_id)
                    .map(|c| c.name.clone());
                Target::AccountId { account_id, name }
            }
            Err(e) => {
                let looks_like_id = input.len() > 3
                    && input
                        .get(..3)
                        .is_some_and(|p| p.eq_ignore_ascii_case("nj1"));
                if looks_like_id {
                    Target::Invalid(e.to_string())
                } else {
                    Target::Invalid(format!(
                        "no contact is named “{}”, and it is not an Account ID: {e}",
                        text::sanitize(input)
                    ))
                }
            }
        }
    }

    /// A key was pressed at `now_ms`.
    pub fn handle_key(&mut self, key: KeyEvent, now_ms: u64) -> Vec<Action> {
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('q')) {
            return vec![Action::Quit];
        }
        if key.code == KeyCode::F(1) {
            self.help = !self.help;
            return Vec::new();
        }
        if self.help {
            if matches!(
                key.code,
                KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q') | KeyCode::Enter
            ) {
                self.help = false;
            }
            return Vec::new();
        }
        match self.screen {
            Screen::Conversations => self.key_conversations(key),
            Screen::Chat => self.key_chat(key, now_ms),
            Screen::NewChat => self.key_new_chat(key),
            Screen::Contacts => self.key_contacts(key),
            Screen::Account => {
                match key.code {
                    KeyCode::Esc | KeyCode::Char('q') => self.screen = Screen::Conversations,
                    KeyCode::Char('?') => self.help = true,
                    _ => {}
                }
                Vec::new()
            }
        }
    }

    /// Text was pasted (bracketed paste): goes to the focused input.
    pub fn handle_paste(&mut self, pasted: &str) {
        match self.screen {
            Screen::Chat => self.composer.insert_str(pasted),
            Screen::NewChat => self.new_chat.insert_str(pasted),
            Screen::Contacts => {
                if let Some(form) = &mut self.contact_form {
                    match form.focus {
                        Field::Name => form.name.insert_str(pasted),
                        Field::AccountId => form.account_id.insert_str(pasted),
                    }
                }
            }
            Screen::Conversations | Screen::Account => {
                // Pasting an ID on the list starts a chat with it.
                self.new_chat.set_text(pasted.trim());
                self.screen = Screen::NewChat;
            }
        }
    }

    fn key_conversations(&mut self, key: KeyEvent) -> Vec<Action> {
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(self.conversations.len().saturating_sub(1));
            }
            KeyCode::Home => self.selected = 0,
            KeyCode::End => self.selected = self.conversations.len().saturating_sub(1),
            KeyCode::Enter => {
                if let Some(peer) = self
                    .conversations
                    .get(self.selected)
                    .map(|c| c.peer.clone())
                {
                    return self.open_chat(peer);
                }
            }
            KeyCode::Char('n') => {
                self.new_chat.clear();
                self.screen = Screen::NewChat;
            }
            KeyCode::Char('c') => self.screen = Screen::Contacts,
            KeyCode::Char('a') => self.screen = Screen::Account,
            KeyCode::Char('r') => return vec![Action::Conversations, Action::Contacts],
            KeyCode::Char('?') => self.help = true,
            KeyCode::Char('q') | KeyCode::Esc => return vec![Action::Quit],
            _ => {}
        }
        Vec::new()
    }

    fn open_chat(&mut self, peer: String) -> Vec<Action> {
        if let Some(c) = self.conversations.iter_mut().find(|c| c.peer == peer) {
            c.unread = 0;
        }
        if self.chat.as_ref().map(|c| &c.peer) != Some(&peer) {
            self.composer.clear();
        }
        self.threads.entry(peer.clone()).or_default();
        self.chat = Some(OpenChat {
            peer: peer.clone(),
            loaded: false,
            scroll: 0,
        });
        self.screen = Screen::Chat;
        vec![
            Action::History {
                peer: peer.clone(),
                limit: HISTORY_LIMIT,
            },
            Action::MarkRead { peer },
        ]
    }

    fn key_chat(&mut self, key: KeyEvent, now_ms: u64) -> Vec<Action> {
        match key.code {
            KeyCode::Esc => {
                self.screen = Screen::Conversations;
                return Vec::new();
            }
            KeyCode::PageUp => {
                if let Some(chat) = &mut self.chat {
                    chat.scroll = chat.scroll.saturating_add(5);
                }
                return Vec::new();
            }
            KeyCode::PageDown => {
                if let Some(chat) = &mut self.chat {
                    chat.scroll = chat.scroll.saturating_sub(5);
                }
                return Vec::new();
            }
            _ => {}
        }
        match self.composer.handle_key(key) {
            Edit::Submit => self.send(now_ms),
            Edit::Changed | Edit::Ignored => Vec::new(),
        }
    }

    fn send(&mut self, now_ms: u64) -> Vec<Action> {
        if self.composer.is_blank() {
            return Vec::new();
        }
        let Some(chat) = &mut self.chat else {
            return Vec::new();
        };
        chat.scroll = 0;
        let peer = chat.peer.clone();
        let text = self.composer.text();
        self.composer.clear();
        let token = self.next_token;
        self.next_token += 1;
        self.threads
            .entry(peer.clone())
            .or_default()
            .push_sending(token, text.clone(), now_ms);
        vec![Action::Send {
            token,
            to: peer,
            text,
        }]
    }

    fn key_new_chat(&mut self, key: KeyEvent) -> Vec<Action> {
        if key.code == KeyCode::Esc {
            self.screen = Screen::Conversations;
            return Vec::new();
        }
        match self.new_chat.handle_key(key) {
            Edit::Submit => match self.resolve(&self.new_chat.text()) {
                Target::Contact { account_id, .. } | Target::AccountId { account_id, .. } => {
                    self.new_chat.clear();
                    self.open_chat(account_id)
                }
                Target::Empty => Vec::new(),
                Target::Invalid(why) => {
                    self.error(why);
                    Vec::new()
                }
            },
            Edit::Changed | Edit::Ignored => Vec::new(),
        }
    }

    fn key_contacts(&mut self, key: KeyEvent) -> Vec<Action> {
        if self.contact_form.is_some() {
            return self.key_contact_form(key);
        }
        if let Some(name) = self.confirm_remove.take() {
            if matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
                self.info(format!("removing {}…", text::sanitize(&name)));
                return vec![Action::RemoveContact { name }];
            }
            self.info("kept");
            return Vec::new();
        }
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => {
                self.contact_selected = self.contact_selected.saturating_sub(1);
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.contact_selected =
                    (self.contact_selected + 1).min(self.contacts.len().saturating_sub(1));
            }
            KeyCode::Char('a') | KeyCode::Char('n') => {
                self.contact_form = Some(ContactForm {
                    name: Composer::single_line(),
                    account_id: Composer::single_line(),
                    focus: Field::Name,
                    error: None,
                    pending: false,
                });
            }
            KeyCode::Char('d') | KeyCode::Delete => {
                if let Some(c) = self.contacts.get(self.contact_selected) {
                    self.confirm_remove = Some(c.name.clone());
                    self.info(format!(
                        "remove contact {}? y to confirm, any other key keeps it",
                        text::sanitize(&c.name)
                    ));
                }
            }
            KeyCode::Enter => {
                if let Some(id) = self
                    .contacts
                    .get(self.contact_selected)
                    .map(|c| c.account_id.clone())
                {
                    return self.open_chat(id);
                }
            }
            KeyCode::Char('?') => self.help = true,
            KeyCode::Esc | KeyCode::Char('q') => self.screen = Screen::Conversations,
            _ => {}
        }
        Vec::new()
    }

    fn key_contact_form(&mut self, key: KeyEvent) -> Vec<Action> {
        let Some(form) = &mut self.contact_form else {
            return Vec::new();
        };
        match key.code {
            KeyCode::Esc => {
                self.contact_form = None;
                return Vec::new();
            }
            KeyCode::Tab | KeyCode::BackTab | KeyCode::Up | KeyCode::Down => {
                form.focus = match form.focus {
                    Field::Name => Field::AccountId,
                    Field::AccountId => Field::Name,
                };
                return Vec::new();
            }
            _ => {}
        }
        let edit = match form.focus {
            Field::Name => form.name.handle_key(key),
            Field::AccountId => form.account_id.handle_key(key),
        };
        if edit != Edit::Submit {
            form.error = None;
            return Vec::new();
        }
        if form.focus == Field::Name {
            form.focus = Field::AccountId;
            return Vec::new();
        }
        let name = form.name.text().trim().to_owned();
        if name.is_empty() {
            form.error = Some("the name is empty".to_owned());
            form.focus = Field::Name;
            return Vec::new();
        }
        match form.account_id.text().trim().parse::<AccountId>() {
            Ok(id) => {
                form.pending = true;
                vec![Action::AddContact {
                    name,
                    account_id: id.to_string(),
                }]
            }
            Err(e) => {
                form.error = Some(e.to_string());
                Vec::new()
            }
        }
    }

    /// A daemon answer or notification arrived.
    pub fn handle_rpc(&mut self, event: RpcEvent) -> Vec<Action> {
        match event {
            RpcEvent::Account(Ok(account)) => {
                self.account = Some(account);
                self.info("connected");
            }
            RpcEvent::Account(Err(e)) => self.error(format!("account: {e}")),
            RpcEvent::Conversations(Ok(list)) => {
                let selected_peer = self
                    .conversations
                    .get(self.selected)
                    .map(|c| c.peer.clone());
                self.conversations = list;
                if let Some(peer) = self.open_peer().map(str::to_owned)
                    && let Some(c) = self.conversations.iter_mut().find(|c| c.peer == peer)
                {
                    c.unread = 0;
                }
                self.selected = selected_peer
                    .and_then(|p| self.conversations.iter().position(|c| c.peer == p))
                    .unwrap_or(0);
            }
            RpcEvent::Conversations(Err(e)) => self.error(format!("conversations: {e}")),
            RpcEvent::Contacts(Ok(list)) => {
                self.contacts = list;
                self.contact_selected = self
                    .contact_selected
                    .min(self.contacts.len().saturating_sub(1));
            }
            RpcEvent::Contacts(Err(e)) => self.error(format!("contacts: {e}")),
            RpcEvent::History { peer, result } => match result {
                Ok(messages) => {
                    self.threads
                        .entry(peer.clone())
                        .or_default()
                        .history(&messages);
                    if let Some(chat) = &mut self.chat
                        && chat.peer == peer
                    {
                        chat.loaded = true;
                    }
                }
                Err(e) => self.error(format!("history: {e}")),
            },
            RpcEvent::Sent { token, result } => {
                for thread in self.threads.values_mut() {
                    if thread.sent(token, &result) {
                        break;
                    }
                }
                match result {
                    Ok(sent) => {
                        match &sent.fallback {
                            Some(why) => self.info(format!("stored by the swarm; note: {why}")),
                            None => self.info("stored by the swarm"),
                        }
                        return vec![Action::Conversations];
                    }
                    Err(e) => self.error(format!("sending failed: {e}")),
                }
            }
            RpcEvent::MarkedRead { result, .. } => {
                if let Err(e) = result {
                    self.error(format!("mark read: {e}"));
                }
            }
            RpcEvent::ContactAdded(result) => match result {
                Ok(c) => {
                    self.contact_form = None;
                    self.info(format!("added contact {}", text::sanitize(&c.name)));
                    return vec![Action::Contacts, Action::Conversations];
                }
                Err(e) => match &mut self.contact_form {
                    Some(form) => {
                        form.pending = false;
                        form.error = Some(e);
                    }
                    None => self.error(format!("adding the contact failed: {e}")),
                },
            },
            RpcEvent::ContactRemoved(result) => match result {
                Ok(c) => {
                    self.info(format!("removed contact {}", text::sanitize(&c.name)));
                    return vec![Action::Contacts, Action::Conversations];
                }
                Err(e) => self.error(format!("removing the contact failed: {e}")),
            },
            RpcEvent::Message(m) => return self.message(m),
            RpcEvent::Disconnected(why) => {
                self.connected = false;
                self.error(format!("the daemon connection is gone ({why}); q quits"));
            }
        }
        Vec::new()
    }

    /// A message arrived or was sent: its chat (if loaded) and the
    /// conversation list follow; an open chat marks it read at once.
    fn message(&mut self, m: Message) -> Vec<Action> {
        if let Some(thread) = self.threads.get_mut(&m.peer) {
            thread.notified(&m);
        }
        let open = self.open_peer() == Some(m.peer.as_str());
        let incoming = m.direction == Direction::In;
        let selected_peer = self
            .conversations
            .get(self.selected)
            .map(|c| c.peer.clone());
        let mut conv = match self.conversations.iter().position(|c| c.peer == m.peer) {
            Some(i) => self.conversations.remove(i),
            None => Conversation {
                peer: m.peer.clone(),
                name: m.name.clone(),
                last: None,
                unread: 0,
                timer: None,
            },
        };
        if incoming && !open && !m.read {
            conv.unread += 1;
        }
        if conv.name.is_none() {
            conv.name = m.name.clone();
        }
        let peer = m.peer.clone();
        conv.last = Some(m);
        self.conversations.insert(0, conv);
        self.selected = selected_peer
            .and_then(|p| self.conversations.iter().position(|c| c.peer == p))
            .unwrap_or(0);
        if incoming && open {
            return vec![Action::MarkRead { peer }];
        }
        if incoming {
            self.info(format!("new message from {}", self.display_name(&peer)));
        }
        Vec::new()
    }
}
