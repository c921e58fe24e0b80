//! The chat view: a header (name, ID, timer), the messages with names,
//! times and delivery states, and the composer.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::app::App;
use crate::delivery::Delivery;
use crate::model::{Direction, TimerAfter};
use crate::text;

/// The composer grows to this many text lines, then scrolls.
const COMPOSER_LINES: usize = 5;

pub(super) fn render(app: &App, frame: &mut Frame, area: Rect) {
    let Some(chat) = &app.chat else {
        return;
    };
    let width = area.width.max(1) as usize;
    let (composer_lines, (cx, cy)) = app.composer.layout(width);
    let max_composer = (area.height as usize)
        .saturating_sub(3)
        .clamp(1, COMPOSER_LINES);
    let shown_lines = composer_lines.len().clamp(1, max_composer);
    let [header, messages, composer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(shown_lines as u16 + 1),
    ])
    .areas(area);

    // Header: name, ID when there is room, timer.
    let name = app.display_name(&chat.peer);
    let mut spans = vec![Span::styled(
        name.clone(),
        Style::default().add_modifier(Modifier::BOLD),
    )];
    if let Some(timer) = app
        .conversations
        .iter()
        .find(|c| c.peer == chat.peer)
        .and_then(|c| c.timer)
    {
        spans.push(Span::styled(
            format!(
                " ⏱ disappear {} after {}",
                text::duration(timer.duration_ms),
                match timer.after {
                    TimerAfter::Send => "sending",
                    TimerAfter::Read => "reading",
                }
            ),
            Style::default().fg(Color::Magenta),
        ));
    }
    let used: usize = spans.iter().map(|s| s.width()).sum();
    let id = text::sanitize(&chat.peer);
    if used + 3 + text::width(&id) <= width && name != id {
        spans.push(Span::styled(
            format!("  {id}"),
            Style::default().fg(Color::DarkGray),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), header);

    // Messages, newest at the bottom.
    let mut lines: Vec<Line> = Vec::new();
    if let Some(thread) = app.thread(&chat.peer) {
        for m in &thread.messages {
            let (who, who_style) = match m.direction {
                Direction::In => (
                    name.clone(),
                    Style::default()
                        .fg(Color::Cyan)
                        .add_modifier(Modifier::BOLD),
                ),
                Direction::Out => (
                    "you".to_owned(),
                    Style::default()
                        .fg(Color::Green)
                        .add_modifier(Modifier::BOLD),
                ),
            };
            let mut head = vec![
                Span::styled(who, who_style),
                Span::styled(
                    format!(" {}", text::clock(m.sent_at)),
                    Style::default().fg(Color::DarkGray),
                ),
            ];
            let state = m.delivery.label();
            if !state.is_empty() {
                let style = match m.delivery {
                    Delivery::Failed(_) => Style::default().fg(Color::Red),
                    Delivery::Sending => Style::default().fg(Color::Yellow),
                    _ => Style::default().fg(Color::DarkGray),
                };
                head.push(Span::styled(format!(" {}", text::sanitize(&state)), style));
            }
            if let Some(at) = m.expires_at {
                head.push(Span::styled(
                    format!(" ⏱ until {}", text::clock(at)),
                    Style::default().fg(Color::Magenta),
                ));
            }
            lines.push(Line::from(head));
            for l in text::wrap(&m.text, width.saturating_sub(2)) {
                lines.push(Line::from(format!("  {l}")));
            }
        }
    }
    if lines.is_empty() {
        let note = if chat.loaded {
            "no messages yet: say hello"
        } else {
            "loading…"
        };
        lines.push(Line::styled(note, Style::default().fg(Color::DarkGray)));
    }
    let height = messages.height as usize;
    let max_scroll = lines.len().saturating_sub(height);
    let scroll = chat.scroll.min(max_scroll);
    let end = lines.len() - scroll;
    let start = end.saturating_sub(height);
    let visible: Vec<Line> = lines.drain(start..end).collect();
    frame.render_widget(Paragraph::new(visible), messages);

    // The composer, scrolled to keep the cursor in view.
    let first = (cy + 1).saturating_sub(shown_lines);
    let text_lines: Vec<Line> = composer_lines
        .into_iter()
        .skip(first)
        .take(shown_lines)
        .map(Line::from)
        .collect();
    let block = Block::default()
        .borders(Borders::TOP)
        .title(" message (Enter sends, Alt-Enter new line) ");
    let inner = block.inner(composer);
    frame.render_widget(Paragraph::new(text_lines).block(block), composer);
    let (x, y) = (
        inner.x.saturating_add(cx.min(u16::MAX as usize) as u16),
        inner
            .y
            .saturating_add((cy - first).min(u16::MAX as usize) as u16),
    );
    if x < inner.right() && y < inner.bottom() {
        frame.set_cursor_position((x, y));
    }
}
