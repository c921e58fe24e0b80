//! The help overlay (`?` or F1): every key of every screen.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::app::App;

const KEYS: &[(&str, &str)] = &[
    ("Conversations", ""),
    ("↑/↓ j/k", "choose a conversation"),
    ("Enter", "open it"),
    ("n", "new chat (Account ID or contact name)"),
    ("c", "contacts (a add, d remove, Enter chat)"),
    ("a", "my account: ID and QR code"),
    ("r", "reload the lists"),
    ("q", "quit"),
    ("Chat", ""),
    ("Enter", "send"),
    ("Alt-Enter, Ctrl-J", "new line"),
    ("←/→/↑/↓ Home/End", "move in the text"),
    ("Ctrl-W/U/K", "delete word / to line start / to end"),
    ("PgUp/PgDn", "scroll the messages"),
    ("Esc", "back"),
    ("Everywhere", ""),
    ("? or F1", "this help (in a chat: F1)"),
    ("Ctrl-C", "quit"),
];

pub(super) fn render(_app: &App, frame: &mut Frame, area: Rect) {
    let width = area.width.min(64);
    let height = area.height.min(KEYS.len() as u16 + 2);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| {
            if what.is_empty() {
                Line::styled(
                    *k,
                    Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
                )
            } else {
                Line::from(format!("  {k:<18} {what}"))
            }
        })
        .collect();
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Help: Esc closes "),
        ),
        popup,
    );
}
