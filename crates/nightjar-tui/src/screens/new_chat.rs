//! Starting a chat: an Account ID pasted or a contact name typed, validated
//! on every key.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::{Paragraph, Wrap};

use crate::app::App;

pub(super) fn render(app: &App, frame: &mut Frame, area: Rect) {
    let [prompt, field, check] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new("Start a chat with:"), prompt);
    super::input(frame, field, "> ", &app.new_chat, true);
    let target = app.resolve(&app.new_chat.text());
    frame.render_widget(
        Paragraph::new(super::target_line(&target)).wrap(Wrap { trim: true }),
        check,
    );
}
