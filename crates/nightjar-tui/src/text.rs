//! Text helpers for drawing: making untrusted text safe for a terminal,
//! wrapping by display width, and formatting times and durations.

use unicode_width::UnicodeWidthChar;

/// `text` with every control character (C0, DEL, C1) replaced by `�`, so
/// text from the network can never send escape sequences to the terminal;
/// a tab becomes four spaces. Newlines are control characters too: split
/// lines before calling this.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\t' => out.push_str("    "),
            c if c.is_control() => out.push('\u{FFFD}'),
            // Bidirectional overrides and isolates would reorder what
            // follows them on the line: shown as a replacement too.
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The display width of one character (0 for combining marks).
pub fn char_width(c: char) -> usize {
    c.width().unwrap_or(0)
}

/// The display width of a string.
pub fn width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// `text` (sanitized, any newlines splitting lines) wrapped to `width`
/// columns: breaks at the last space that fits, else mid-word. Never
/// returns an empty list (an empty text is one empty line).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    for raw in text.split('\n') {
        let raw = sanitize(raw.strip_suffix('\r').unwrap_or(raw));
        let mut line = String::new();
        let mut line_width = 0;
        // Byte index in `line` just after the last space, and the width up to it.
        let mut last_space: Option<(usize, usize)> = None;
        for c in raw.chars() {
            let w = char_width(c);
            if c == ' ' && line_width + w > width {
                // A space where the line is full: the break itself.
                lines.push(std::mem::take(&mut line));
                line_width = 0;
                last_space = None;
                continue;
            }
            while line_width + w > width && !line.is_empty() {
                match last_space {
                    Some((at, w_at)) if at < line.len() => {
                        let rest = line.split_off(at);
                        lines.push(line.trim_end().to_owned());
                        line = rest;
                        line_width -= w_at;
                    }
                    _ => {
                        lines.push(std::mem::take(&mut line));
                        line_width = 0;
                    }
                }
                last_space = None;
            }
            line.push(c);
            line_width += w;
            if c == ' ' {
                last_space = Some((line.len(), line_width));
            }
        }
        lines.push(line);
    }
    lines
}

/// `s` cut to at most `max` display columns, ending in `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = char_width(c);
        if w + cw + 1 > max {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out
}

/// `HH:MM` (UTC) of a Unix-millisecond time.
pub fn clock(ms: u64) -> String {
    let mins = ms / 60_000;
    format!("{:02}:{:02}", (mins / 60) % 24, mins % 60)
}

/// A duration the way timers are set: `30s`, `10m`, `1h`, `7d`, or a
/// combination when not whole (`1h30m`).
pub fn duration(ms: u64) -> String {
    let s = ms / 1000;
    if s == 0 {
        return format!("{ms}ms");
    }
    let (d, h, m, sec) = (s / 86_400, (s / 3600) % 24, (s / 60) % 60, s % 60);
    let mut out = String::new();
    for (n, unit) in [(d, "d"), (h, "h"), (m, "m"), (sec, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

/// An Account ID shortened for narrow places: `nj1abcdefgh…wxyz`.
pub fn short_id(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() <= 16 {
        return sanitize(id);
    }
    let head: String = chars.iter().take(11).collect();
    let tail: String = chars.iter().skip(chars.len() - 4).collect();
    sanitize(&format!("{head}…{tail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(
            sanitize("a\x1b[2Jb\u{9b}c\u{7f}"),
            "a\u{FFFD}[2Jb\u{FFFD}c\u{FFFD}"
        );
        assert_eq!(sanitize("x\u{202E}y"), "x\u{FFFD}y");
        assert_eq!(sanitize("tab\there"), "tab    here");
    }

    #[test]
    fn wrapping_breaks_at_spaces_and_long_words_and_keeps_newlines() {
        assert_eq!(wrap("hello big world", 9), vec!["hello big", "world"]);
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("one\ntwo", 10), vec!["one", "two"]);
        assert_eq!(wrap("", 10), vec![""]);
        assert_eq!(
            wrap("日本語テキスト", 4),
            vec!["日本", "語テ", "キス", "ト"]
        );
        for w in 1..12 {
            for line in wrap("the quick brown fox jumps over 日本語 lazy", w) {
                assert!(width(&line) <= w.max(2), "{line:?} wider than {w}");
            }
        }
    }

    #[test]
    fn truncation_and_formats() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(truncate("abc", 0), "");
        assert_eq!(clock(3_600_000 * 25 + 61_000), "01:01");
        assert_eq!(duration(3_600_000), "1h");
        assert_eq!(duration(5_400_000), "1h30m");
        assert_eq!(duration(7 * 86_400_000), "7d");
        assert_eq!(
            short_id("nj1qqqqqqqqqqqqqqqqqqqqqqzzzz"),
            "nj1qqqqqqqq…zzzz"
        );
    }
}
