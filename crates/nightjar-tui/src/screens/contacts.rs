//! Contacts: the list (name and Account ID), the add form with the ID
//! validated as typed, and removal.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, ListState, Paragraph, Wrap};

use crate::app::{App, Field, Target};
use crate::text;

pub(super) fn render(app: &App, frame: &mut Frame, area: Rect) {
    let form_height = if app.contact_form.is_some() {
        5.min(area.height)
    } else {
        0
    };
    let [list_area, form_area] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(form_height)]).areas(area);
    if app.contacts.is_empty() {
        frame.render_widget(
            Paragraph::new("No contacts yet. Press a to add one.").wrap(Wrap { trim: true }),
            list_area,
        );
    } else {
        let width = list_area.width as usize;
        let items: Vec<ListItem> = app
            .contacts
            .iter()
            .map(|c| {
                let name = text::sanitize(&c.name);
                let room = width.saturating_sub(text::width(&name) + 4);
                let id = text::sanitize(&c.account_id);
                let id = if text::width(&id) <= room {
                    id
                } else {
                    text::truncate(&id, room)
                };
                ListItem::new(Line::from(vec![
                    Span::styled(name, Style::default().add_modifier(Modifier::BOLD)),
                    Span::styled(format!("  {id}"), Style::default().fg(Color::DarkGray)),
                ]))
            })
            .collect();
        let mut state = ListState::default().with_selected(Some(app.contact_selected));
        frame.render_stateful_widget(
            List::new(items)
                .highlight_style(Style::default().add_modifier(Modifier::REVERSED))
                .highlight_symbol("› "),
            list_area,
            &mut state,
        );
    }
    let Some(form) = &app.contact_form else {
        return;
    };
    let block = Block::default()
        .borders(Borders::TOP)
        .title(" add a contact ");
    let inner = block.inner(form_area);
    frame.render_widget(block, form_area);
    let [name, id, check] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(inner);
    super::input(frame, name, "name: ", &form.name, form.focus == Field::Name);
    super::input(
        frame,
        id,
        "Account ID: ",
        &form.account_id,
        form.focus == Field::AccountId,
    );
    let line = if let Some(e) = &form.error {
        Line::styled(
            format!("✗ {}", text::sanitize(e)),
            Style::default().fg(Color::Red),
        )
    } else if form.pending {
        Line::styled("adding…", Style::default().fg(Color::Yellow))
    } else {
        let typed = form.account_id.text();
        let target = match typed.trim().parse::<nightjar_crypto::identity::AccountId>() {
            _ if typed.trim().is_empty() => Target::Empty,
            Ok(id) => Target::AccountId {
                account_id: id.to_string(),
                name: None,
            },
            Err(e) => Target::Invalid(e.to_string()),
        };
        match target {
            Target::Empty => Line::styled(
                "paste the Account ID (nj1…)",
                Style::default().fg(Color::DarkGray),
            ),
            t => super::target_line(&t),
        }
    };
    frame.render_widget(Paragraph::new(line).wrap(Wrap { trim: true }), check);
}
