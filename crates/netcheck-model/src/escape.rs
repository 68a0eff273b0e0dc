//! Escaping at the reporter boundary: one function per format, applied by each reporter
//! to every text it writes. Names, messages and evidence carry what the engine said,
//! and a lying engine can put anything in a name: a newline that forges a report line,
//! an ANSI escape that rewrites the terminal, U+202E that reverses what a reader sees,
//! a `|` or `<` that breaks a table or a page.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether a character must never reach a reader raw: control characters (C0, DEL, C1:
/// newline, ESC), bidi controls (which reorder what is displayed), and the Unicode line
/// and paragraph separators.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
            | '\u{2028}' | '\u{2029}')
}

/// The text with every unsafe character shown as an escape (`\n`, `\u{1b}`), so that a
/// reader sees that it was there and what it was, and it does nothing.
fn visible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// For the terminal (and stderr): one line of plain text.
pub fn terminal(text: &str) -> Cow<'_, str> {
    visible(text)
}

/// For HTML (and HTML inside Markdown): markup characters as entities, and unsafe
/// characters visible.
pub fn html(text: &str) -> String {
    visible(text)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// For Markdown text and table cells: HTML-escaped (GitHub renders inline HTML), a pipe
/// escaped (it would end the cell), and backticks, brackets and backslashes as
/// entities, so a name can neither open a code span, nor make a link, nor undo an escape.
pub fn markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in html(text).chars() {
        match c {
            '|' => out.push_str("\\|"),
            '`' => out.push_str("&#96;"),
            '[' => out.push_str("&#91;"),
            ']' => out.push_str("&#93;"),
            '\\' => out.push_str("&#92;"),
            c => out.push(c),
        }
    }
    out
}

/// For a Markdown code span in a table cell (`` `bridge.veth[app-net]` ``): literal
/// inside, so only a backtick (which would end the span), a pipe (which would end the
/// cell) and unsafe characters need care.
pub fn markdown_code_span(text: &str) -> String {
    let text = visible(text).replace('|', "\\|");
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    // A span that starts or ends with a backtick needs a space between it and the fence.
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// For text inside a fenced Markdown code block: nothing is markup there; only what
/// would break the line or fool the reader is made visible.
pub fn markdown_code(text: &str) -> Cow<'_, str> {
    visible(text)
}

/// For JUnit XML: the XML writer escapes markup and drops characters XML forbids; this
/// makes those and bidi controls visible first, so a CI page shows what was there.
pub fn xml(text: &str) -> Cow<'_, str> {
    visible(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_unsafe_survives_any_format() {
        let hostile = "net\nPASS  forged.line\u{1b}[2J\u{202e}gnp.exe\u{7}|`<b>";
        for out in [
            terminal(hostile).into_owned(),
            html(hostile),
            markdown_code(hostile).into_owned(),
            xml(hostile).into_owned(),
        ] {
            assert!(!out.chars().any(is_unsafe), "{out:?}");
            assert!(out.contains("\\n") && out.contains("\\u{1b}") && out.contains("\\u{202e}"));
        }
        assert!(!markdown(hostile).chars().any(is_unsafe));
        assert!(!html(hostile).contains('<'));
        let md = markdown(hostile);
        assert!(!md.contains('`') && !md.contains('<') && md.contains("\\|"));
        assert_eq!(markdown_code_span("a`b|c"), "``a`b\\|c``");
        assert_eq!(markdown_code_span("bridge.veth[x]"), "`bridge.veth[x]`");
    }

    #[test]
    fn plain_text_is_untouched() {
        let plain = "bridge.veth[app-net] vethd32e0c7@if649 172.22.0.2/16 ✅";
        assert_eq!(terminal(plain), plain);
        assert_eq!(html(plain), plain);
    }
}
