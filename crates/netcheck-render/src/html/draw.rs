//! The SVG primitives of the picture: a box and a line, red and linked to the check
//! when a failing check is about them, and the anchor of a check's row they link to.

use std::fmt::Write;

use netcheck_model::escape::html as esc;
use netcheck_model::report::CheckResult;

/// The anchor of a check's row, which the picture's red elements link to.
pub(super) fn anchor(id: &str) -> String {
    format!(
        "check-{}",
        id.replace(
            |c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '.',
            "_"
        )
    )
}

/// A box, red and linked when `fail` is set.
pub(super) fn rect(
    svg: &mut String,
    (x, y, w, h): (i32, i32, i32, i32),
    lines: &[String],
    fail: Option<&CheckResult>,
    kind: &str,
) {
    let (class, open, close) = match fail {
        Some(c) => (
            format!("{kind} fail"),
            format!(
                r##"<a href="#{}" data-check="{}"><title>{}: {}</title>"##,
                anchor(&c.id),
                esc(&c.id),
                esc(&c.id),
                esc(&c.message)
            ),
            "</a>",
        ),
        None => (kind.to_string(), String::new(), ""),
    };
    let _ = write!(
        svg,
        r#"{open}<g class="{class}"><rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6"/>"#
    );
    for (i, line) in lines.iter().enumerate() {
        let weight = if i == 0 { r#" font-weight="bold""# } else { "" };
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}"{weight}>{}</text>"#,
            x + 8,
            y + 18 + 16 * i as i32,
            esc(line)
        );
    }
    let _ = write!(svg, "</g>{close}");
}

/// A line with its label, red and linked when `fail` is set.
pub(super) fn line(
    svg: &mut String,
    (x1, y1): (i32, i32),
    (x2, y2): (i32, i32),
    label: &str,
    fail: Option<&CheckResult>,
    kind: &str,
) {
    let class = if fail.is_some() {
        format!("{kind} fail")
    } else {
        kind.to_string()
    };
    let (open, close) = match fail {
        Some(c) => (
            format!(
                r##"<a href="#{}" data-check="{}"><title>{}</title>"##,
                anchor(&c.id),
                esc(&c.id),
                esc(&c.message)
            ),
            "</a>",
        ),
        None => (String::new(), ""),
    };
    let _ = write!(
        svg,
        r#"{open}<g class="{class}"><line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}"/><text x="{}" y="{}" class="label">{}</text></g>{close}"#,
        (x1 + x2) / 2 + 6,
        (y1 + y2) / 2,
        esc(label)
    );
}
