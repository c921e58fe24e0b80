//! A multi-line text input: the chat composer and the one-line fields of
//! the new-chat and contact forms. Holds the text and a cursor; lays itself
//! out for a width (wrapping by display width) so the driver can place the
//! terminal cursor.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::text::{char_width, sanitize};

/// The longest text a composer takes (characters): well under what one
/// message carries, and it keeps layout cheap.
pub const MAX_CHARS: usize = 16_000;

/// What a key did to the composer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    /// The key was an editing key and was applied.
    Changed,
    /// Enter without modifiers: the caller decides (send, submit).
    Submit,
    /// Not an editing key.
    Ignored,
}

/// Text being typed, with a cursor (a character index).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Composer {
    chars: Vec<char>,
    cursor: usize,
    multiline: bool,
}

impl Composer {
    /// A composer where Alt-Enter and Ctrl-J insert a newline.
    pub fn multiline() -> Composer {
        Composer {
            multiline: true,
            ..Composer::default()
        }
    }

    /// A one-line field (newlines in pasted text become spaces).
    pub fn single_line() -> Composer {
        Composer::default()
    }

    /// The text.
    pub fn text(&self) -> String {
        self.chars.iter().collect()
    }

    /// Whether there is nothing but white space.
    pub fn is_blank(&self) -> bool {
        self.chars.iter().all(|c| c.is_whitespace())
    }

    /// Empties it.
    pub fn clear(&mut self) {
        self.chars.clear();
        self.cursor = 0;
    }

    /// Replaces the text, cursor at the end.
    pub fn set_text(&mut self, text: &str) {
        self.clear();
        self.insert_str(text);
    }

    /// Inserts text at the cursor (typing or a paste).
    pub fn insert_str(&mut self, text: &str) {
        for c in text.chars() {
            let c = match c {
                '\r' => continue,
                '\n' if !self.multiline => ' ',
                c => c,
            };
            self.insert(c);
        }
    }

    fn insert(&mut self, c: char) {
        if self.chars.len() >= MAX_CHARS {
            return;
        }
        self.chars.insert(self.cursor, c);
        self.cursor += 1;
    }

    /// Applies an editing key: characters, Backspace, Delete, arrows,
    /// Home/End, Ctrl-A/E/U/K/W, Alt-Enter or Ctrl-J (newline).
    pub fn handle_key(&mut self, key: KeyEvent) -> Edit {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        match key.code {
            KeyCode::Enter if alt && self.multiline => self.insert('\n'),
            KeyCode::Char('j') if ctrl && self.multiline => self.insert('\n'),
            KeyCode::Enter => return Edit::Submit,
            KeyCode::Char('a') if ctrl => self.cursor = self.line_start(self.cursor),
            KeyCode::Char('e') if ctrl => self.cursor = self.line_end(self.cursor),
            KeyCode::Char('u') if ctrl => {
                let start = self.line_start(self.cursor);
                self.chars.drain(start..self.cursor);
                self.cursor = start;
            }
            KeyCode::Char('k') if ctrl => {
                let end = self.line_end(self.cursor);
                self.chars.drain(self.cursor..end);
            }
            KeyCode::Char('w') if ctrl => {
                let mut start = self.cursor;
                while start > 0 && self.chars.get(start - 1).is_some_and(|c| c.is_whitespace()) {
                    start -= 1;
                }
                while start > 0
                    && self
                        .chars
                        .get(start - 1)
                        .is_some_and(|c| !c.is_whitespace())
                {
                    start -= 1;
                }
                self.chars.drain(start..self.cursor);
                self.cursor = start;
            }
            KeyCode::Char(_) if ctrl || alt => return Edit::Ignored,
            KeyCode::Char(c) => self.insert(c),
            KeyCode::Backspace => {
                if self.cursor > 0 {
                    self.cursor -= 1;
                    self.chars.remove(self.cursor);
                }
            }
            KeyCode::Delete => {
                if self.cursor < self.chars.len() {
                    self.chars.remove(self.cursor);
                }
            }
            KeyCode::Left => self.cursor = self.cursor.saturating_sub(1),
            KeyCode::Right => self.cursor = (self.cursor + 1).min(self.chars.len()),
            KeyCode::Home => self.cursor = self.line_start(self.cursor),
            KeyCode::End => self.cursor = self.line_end(self.cursor),
            KeyCode::Up if self.multiline => self.vertical(false),
            KeyCode::Down if self.multiline => self.vertical(true),
            _ => return Edit::Ignored,
        }
        Edit::Changed
    }

    fn line_start(&self, at: usize) -> usize {
        let mut i = at.min(self.chars.len());
        while i > 0 && self.chars.get(i - 1) != Some(&'\n') {
            i -= 1;
        }
        i
    }

    fn line_end(&self, at: usize) -> usize {
        let mut i = at.min(self.chars.len());
        while i < self.chars.len() && self.chars.get(i) != Some(&'\n') {
            i += 1;
        }
        i
    }

    /// Moves the cursor to the same column of the next or previous line.
    fn vertical(&mut self, down: bool) {
        let start = self.line_start(self.cursor);
        let column = self.cursor - start;
        let target_start = if down {
            let end = self.line_end(self.cursor);
            if end >= self.chars.len() {
                return;
            }
            end + 1
        } else {
            if start == 0 {
                return;
            }
            self.line_start(start - 1)
        };
        let target_end = self.line_end(target_start);
        self.cursor = (target_start + column).min(target_end);
    }

    /// The text wrapped to `width` columns (sanitized), and the cursor's
    /// (column, row) in it.
    pub fn layout(&self, width: usize) -> (Vec<String>, (usize, usize)) {
        let width = width.max(1);
        let mut lines = vec![String::new()];
        let mut col = 0;
        let mut cursor = (0, 0);
        for (i, c) in self.chars.iter().enumerate() {
            if i == self.cursor {
                cursor = (col, lines.len() - 1);
            }
            if *c == '\n' {
                lines.push(String::new());
                col = 0;
                continue;
            }
            let shown = sanitize(&c.to_string());
            let w: usize = shown.chars().map(char_width).sum();
            if col + w > width && col > 0 {
                lines.push(String::new());
                col = 0;
                if i == self.cursor {
                    cursor = (0, lines.len() - 1);
                }
            }
            if let Some(line) = lines.last_mut() {
                line.push_str(&shown);
            }
            col += w;
        }
        if self.cursor >= self.chars.len() {
            if col >= width {
                lines.push(String::new());
                col = 0;
            }
            cursor = (col, lines.len() - 1);
        }
        (lines, cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn typed(c: &mut Composer, s: &str) {
        for ch in s.chars() {
            c.handle_key(key(KeyCode::Char(ch)));
        }
    }

    #[test]
    fn enter_submits_and_alt_enter_or_ctrl_j_insert_newlines() {
        let mut c = Composer::multiline();
        typed(&mut c, "hi");
        assert_eq!(
            c.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT)),
            Edit::Changed
        );
        typed(&mut c, "there");
        c.handle_key(KeyEvent::new(KeyCode::Char('j'), KeyModifiers::CONTROL));
        typed(&mut c, "!");
        assert_eq!(c.text(), "hi\nthere\n!");
        assert_eq!(c.handle_key(key(KeyCode::Enter)), Edit::Submit);
        let mut one = Composer::single_line();
        one.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT));
        one.insert_str("a\nb");
        assert_eq!(one.text(), "a b");
    }

    #[test]
    fn editing_keys_move_and_delete() {
        let mut c = Composer::multiline();
        typed(&mut c, "hello world");
        c.handle_key(KeyEvent::new(KeyCode::Char('w'), KeyModifiers::CONTROL));
        assert_eq!(c.text(), "hello ");
        c.handle_key(key(KeyCode::Home));
        c.handle_key(key(KeyCode::Delete));
        c.handle_key(key(KeyCode::Right));
        c.handle_key(key(KeyCode::Backspace));
        assert_eq!(c.text(), "llo ");
        c.handle_key(key(KeyCode::End));
        c.insert_str("\nsecond line");
        c.handle_key(key(KeyCode::Up));
        typed(&mut c, "X");
        assert_eq!(c.text(), "llo X\nsecond line");
        c.handle_key(key(KeyCode::Down));
        c.handle_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
        assert_eq!(c.text(), "llo X\nd line");
        assert!(!c.is_blank());
        c.clear();
        assert!(c.is_blank());
    }

    #[test]
    fn layout_wraps_and_places_the_cursor() {
        let mut c = Composer::multiline();
        c.insert_str("abcdef\ngh");
        let (lines, cursor) = c.layout(4);
        assert_eq!(lines, vec!["abcd", "ef", "gh"]);
        assert_eq!(cursor, (2, 2));
        c.handle_key(key(KeyCode::Up));
        assert_eq!(c.layout(4).1, (2, 0));
        let mut full = Composer::multiline();
        full.insert_str("abcd");
        assert_eq!(
            full.layout(4),
            (vec!["abcd".to_owned(), String::new()], (0, 1))
        );
        let mut esc = Composer::single_line();
        esc.insert_str("\x1b[31m");
        assert_eq!(esc.layout(20).0, vec!["\u{FFFD}[31m"]);
    }
}
