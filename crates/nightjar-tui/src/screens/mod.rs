//! Drawing: one module per screen, the help overlay, and the frame around
//! them (title, status and key-hint lines). Every size is drawn without a
//! panic; below [`MIN_WIDTH`]×[`MIN_HEIGHT`] only a note is.

mod account;
mod chat;
mod contacts;
mod help;
mod list;
mod new_chat;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::app::{App, Screen, StatusKind, Target};

/// Narrower than this, only "terminal too small" is drawn.
pub const MIN_WIDTH: u16 = 20;
/// Lower than this, only "terminal too small" is drawn.
pub const MIN_HEIGHT: u16 = 7;

impl App {
    /// Draws the whole UI into `frame` (any size).
    pub fn render(&self, frame: &mut Frame) {
        let area = frame.area();
        if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
            let note = Paragraph::new(format!(
                "terminal too small ({}×{}); need {MIN_WIDTH}×{MIN_HEIGHT}",
                area.width, area.height
            ))
            .wrap(Wrap { trim: true });
            frame.render_widget(note, area);
            return;
        }
        let [title, body, status, hints] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
        self.render_title(frame, title);
        match self.screen {
            Screen::Conversations => list::render(self, frame, body),
            Screen::Chat => chat::render(self, frame, body),
            Screen::NewChat => new_chat::render(self, frame, body),
            Screen::Contacts => contacts::render(self, frame, body),
            Screen::Account => account::render(self, frame, body),
        }
        self.render_status(frame, status);
        frame.render_widget(
            Paragraph::new(self.hints()).style(Style::default().fg(Color::DarkGray)),
            hints,
        );
        if self.help {
            help::render(self, frame, area);
        }
    }

    fn render_title(&self, frame: &mut Frame, area: Rect) {
        let screen = match self.screen {
            Screen::Conversations => "conversations".to_owned(),
            Screen::Chat => match &self.chat {
                Some(chat) => format!("chat with {}", self.display_name(&chat.peer)),
                None => "chat".to_owned(),
            },
            Screen::NewChat => "new chat".to_owned(),
            Screen::Contacts => "contacts".to_owned(),
            Screen::Account => "my account".to_owned(),
        };
        let mut spans = vec![
            Span::styled("Nightjar", Style::default().add_modifier(Modifier::BOLD)),
            Span::raw(format!(" · {screen}")),
        ];
        if !self.connected {
            spans.push(Span::styled(
                " · offline",
                Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
            ));
        }
        frame.render_widget(
            Paragraph::new(Line::from(spans))
                .style(Style::default().add_modifier(Modifier::REVERSED)),
            area,
        );
    }

    fn render_status(&self, frame: &mut Frame, area: Rect) {
        let Some(status) = &self.status else {
            return;
        };
        let style = match status.kind {
            StatusKind::Info => Style::default().fg(Color::Cyan),
            StatusKind::Error => Style::default().fg(Color::Red),
        };
        frame.render_widget(
            Paragraph::new(crate::text::sanitize(&status.text)).style(style),
            area,
        );
    }

    /// The key-hint line of the current screen.
    fn hints(&self) -> String {
        let hints = match self.screen {
            Screen::Conversations => {
                "Enter open · n new chat · c contacts · a my account · ? help · q quit"
            }
            Screen::Chat => {
                "Enter send · Alt-Enter/Ctrl-J newline · PgUp/PgDn scroll · Esc back · F1 help"
            }
            Screen::NewChat => "Enter open the chat · Esc cancel · F1 help",
            Screen::Contacts if self.contact_form.is_some() => {
                "Tab next field · Enter save · Esc cancel"
            }
            Screen::Contacts => "a add · d remove · Enter chat · Esc back · ? help",
            Screen::Account => "Esc back · ? help",
        };
        hints.to_owned()
    }
}

/// The validation line for a typed Account ID or contact name.
fn target_line(target: &Target) -> Line<'static> {
    match target {
        Target::Empty => Line::styled(
            "paste an Account ID (nj1…) or type a contact name",
            Style::default().fg(Color::DarkGray),
        ),
        Target::Contact { name, account_id } => Line::styled(
            format!(
                "✓ contact {} ({})",
                crate::text::sanitize(name),
                crate::text::short_id(account_id)
            ),
            Style::default().fg(Color::Green),
        ),
        Target::AccountId { name, .. } => Line::styled(
            match name {
                Some(n) => format!("✓ valid Account ID (contact {})", crate::text::sanitize(n)),
                None => "✓ valid Account ID".to_owned(),
            },
            Style::default().fg(Color::Green),
        ),
        Target::Invalid(why) => Line::styled(format!("✗ {why}"), Style::default().fg(Color::Red)),
    }
}

/// A one-line input drawn in `area` (its last row is the text), with the
/// terminal cursor placed when `focused`.
fn input(
    frame: &mut Frame,
    area: Rect,
    label: &str,
    field: &crate::composer::Composer,
    focused: bool,
) {
    if area.width == 0 || area.height == 0 {
        return;
    }
    let label_width = crate::text::width(label) as u16;
    let room = area.width.saturating_sub(label_width).max(1) as usize;
    let (lines, (cx, cy)) = field.layout(usize::MAX / 4);
    // Show the end near the cursor: scroll horizontally by whole characters.
    let line = lines.get(cy).cloned().unwrap_or_default();
    let chars: Vec<char> = line.chars().collect();
    let mut start = 0;
    let mut shown_cx = cx;
    while shown_cx >= room && start < chars.len() {
        shown_cx -= crate::text::char_width(chars.get(start).copied().unwrap_or(' ')).max(1);
        start += 1;
    }
    let visible: String = chars.iter().skip(start).collect();
    let style = if focused {
        Style::default().add_modifier(Modifier::BOLD)
    } else {
        Style::default()
    };
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(label.to_owned(), style),
            Span::raw(visible),
        ])),
        area,
    );
    if focused {
        let x = area
            .x
            .saturating_add(label_width)
            .saturating_add(shown_cx as u16);
        if x < area.right() {
            frame.set_cursor_position((x, area.y));
        }
    }
}
