//! The conversation list: name (or short ID), unread count, timer badge,
//! time and last message of each conversation, most recent first.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState, Paragraph, Wrap};

use crate::app::App;
use crate::model::{Direction, TimerAfter};
use crate::text;

pub(super) fn render(app: &App, frame: &mut Frame, area: Rect) {
    if app.conversations.is_empty() {
        frame.render_widget(
            Paragraph::new("No conversations yet. Press n to start one, or c to add a contact.")
                .wrap(Wrap { trim: true }),
            area,
        );
        return;
    }
    let width = area.width as usize;
    let items: Vec<ListItem> = app
        .conversations
        .iter()
        .map(|c| {
            let mut head = vec![Span::styled(
                app.display_name(&c.peer),
                Style::default().add_modifier(Modifier::BOLD),
            )];
            if c.unread > 0 {
                head.push(Span::styled(
                    format!(" · {} unread", c.unread),
                    Style::default()
                        .fg(Color::Yellow)
                        .add_modifier(Modifier::BOLD),
                ));
            }
            if let Some(t) = &c.timer {
                head.push(Span::styled(
                    format!(
                        " ⏱{}{}",
                        text::duration(t.duration_ms),
                        match t.after {
                            TimerAfter::Send => "",
                            TimerAfter::Read => " after read",
                        }
                    ),
                    Style::default().fg(Color::Magenta),
                ));
            }
            if let Some(last) = &c.last {
                head.push(Span::styled(
                    format!(" · {}", text::clock(last.sent_at)),
                    Style::default().fg(Color::DarkGray),
                ));
            }
            let preview = match &c.last {
                Some(m) => {
                    let who = match m.direction {
                        Direction::In => "",
                        Direction::Out => "you: ",
                    };
                    let one_line = m.text.replace(['\n', '\r'], " ");
                    text::truncate(
                        &format!("  {who}{}", text::sanitize(&one_line)),
                        width.saturating_sub(2),
                    )
                }
                None => "  (no messages)".to_owned(),
            };
            ListItem::new(vec![
                Line::from(head),
                Line::styled(preview, Style::default().fg(Color::Gray)),
            ])
        })
        .collect();
    let mut state = ListState::default().with_selected(Some(app.selected));
    frame.render_stateful_widget(
        List::new(items)
            .highlight_style(Style::default().add_modifier(Modifier::REVERSED))
            .highlight_symbol("› "),
        area,
        &mut state,
    );
}
