//! "My account": the Account ID as text and as a QR code of half blocks.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use crate::app::App;

pub(super) fn render(app: &App, frame: &mut Frame, area: Rect) {
    let Some(account) = &app.account else {
        frame.render_widget(Paragraph::new("waiting for the daemon…"), area);
        return;
    };
    let id = crate::text::sanitize(&account.account_id);
    let mut head = vec![
        Line::from("Your Account ID (give it to people who want to write to you):"),
        Line::from(id.clone()),
    ];
    if !account.device_id.is_empty() {
        head.push(Line::styled(
            format!("this device: {}", crate::text::sanitize(&account.device_id)),
            Style::default().fg(Color::DarkGray),
        ));
    }
    let head_height = {
        let w = area.width.max(1) as usize;
        head.iter()
            .map(|l| l.width().div_ceil(w).max(1))
            .sum::<usize>()
            .min(u16::MAX as usize) as u16
    };
    let [top, rest] =
        Layout::vertical([Constraint::Length(head_height), Constraint::Min(0)]).areas(area);
    frame.render_widget(Paragraph::new(head).wrap(Wrap { trim: false }), top);
    let Some(qr) = crate::qr::lines(&account.account_id) else {
        return;
    };
    let qr_width = qr.first().map(|l| l.chars().count()).unwrap_or(0) as u16;
    let qr_height = qr.len() as u16;
    if rest.width < qr_width || rest.height < qr_height {
        frame.render_widget(
            Paragraph::new(format!(
                "(make the terminal at least {}×{} to see the QR code)",
                qr_width,
                qr_height + head_height + 3
            ))
            .wrap(Wrap { trim: true }),
            rest,
        );
        return;
    }
    let qr_area = Rect {
        x: rest.x + (rest.width - qr_width) / 2,
        y: rest.y,
        width: qr_width,
        height: qr_height,
    };
    frame.render_widget(
        Paragraph::new(qr.into_iter().map(Line::from).collect::<Vec<_>>())
            .style(Style::default().fg(Color::White).bg(Color::Black)),
        qr_area,
    );
}
