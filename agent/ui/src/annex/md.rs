//! The Annex IV's statements are inline Markdown: our words, with user
//! strings (a system's name, a policy's title, a group, a column) escaped
//! as they go in, so a renderer shows `Scoring <loan> applications` as
//! written instead of dropping a tag or starting emphasis. The HTML view
//! renders the same text with a CommonMark parser, raw HTML shown as text.

use pulldown_cmark::{html, Event, Parser};

/// `s` as literal Markdown text on one line: characters a renderer could
/// read as markup are backslash-escaped (CommonMark escapes any ASCII
/// punctuation), line breaks become spaces.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '\r' | '\n' => out.push(' '),
            '\\' | '`' | '*' | '[' | ']' | '<' | '>' | '&' | '~' | '|' | '!' | '#' => {
                out.push('\\');
                out.push(c);
            }
            // An underscore inside a word never opens emphasis: keep
            // `credit_amount` readable in the raw file.
            '_' if !(i > 0
                && chars[i - 1].is_alphanumeric()
                && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric())) =>
            {
                out.push_str("\\_");
            }
            c => out.push(c),
        }
    }
    out
}

/// `s` as a code span: fenced by more backticks than its longest run of
/// them, padded when it starts or ends with one.
pub fn code(s: &str) -> String {
    let s = s.replace(['\r', '\n'], " ");
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// Inline Markdown as HTML, without the paragraph around it; raw HTML in
/// it (none should be there) is shown as text, never passed through.
pub fn to_html(markdown: &str) -> String {
    let events = Parser::new(markdown).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        other => other,
    });
    let mut out = String::with_capacity(markdown.len() + 16);
    html::push_html(&mut out, events);
    let inner = out.trim_end();
    inner
        .strip_prefix("<p>")
        .and_then(|s| s.strip_suffix("</p>"))
        .unwrap_or(inner)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a reader of the rendered page sees: the HTML's text, unescaped.
    fn shown(html: &str) -> String {
        let mut text = String::new();
        let mut in_tag = false;
        for c in html.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => text.push(c),
                _ => {}
            }
        }
        text.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
    }

    const HOSTILE: &[&str] = &[
        "Scoring <loan> applications",
        "Loans <b>&</b>",
        "*not emphasis* and _nor this_ nor __this__",
        "a `tick` and ``two``",
        "[a link](http://example.com) ![img](x.png)",
        "&amp; &lt;script&gt; \\ back\\slash",
        "~~struck~~ | pipe # hash",
        "two\nlines",
        "credit_amount and _leading",
    ];

    #[test]
    fn escaped_text_renders_as_written() {
        for s in HOSTILE {
            let html = to_html(&format!("Policy \"{}\" holds.", text(s)));
            assert!(!html.contains("<b>") && !html.contains("<em>") && !html.contains("<a "));
            assert!(!html.contains("<code>") && !html.contains("<del>") && !html.contains("<img"));
            assert_eq!(
                shown(&html),
                format!("Policy \"{}\" holds.", s.replace('\n', " "))
            );
        }
        assert_eq!(text("credit_amount"), "credit_amount");
    }

    #[test]
    fn code_spans_hold_any_text() {
        for s in HOSTILE.iter().chain(&["`", "``x", "x`"]) {
            let html = to_html(&format!("Control {} failed.", code(s)));
            let inner = html
                .split_once("<code>")
                .and_then(|(_, rest)| rest.split_once("</code>"))
                .map(|(inner, _)| inner)
                .unwrap_or_else(|| panic!("no code span: {html}"));
            assert_eq!(shown(inner), s.replace('\n', " "), "{html}");
        }
    }

    #[test]
    fn raw_html_is_never_passed_through() {
        let html = to_html("unescaped <script>alert(1)</script> <b>x</b>");
        assert!(
            !html.contains("<script>") && !html.contains("<b>"),
            "{html}"
        );
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }
}
