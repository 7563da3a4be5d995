//! HTML building blocks: the page frame, status pills, numbers and hashes.
//!
//! Pages are maud templates: every string interpolated into one (policy
//! titles, control ids, group and column names, paths) is escaped by the
//! template itself; [`esc`] is for the few places that build markup by
//! hand (the SVG of the Evidence Graph).

use maud::{html, Markup, PreEscaped};

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The pages, in the navigation's order: (path, title).
pub const PAGES: [(&str, &str); 5] = [
    ("/", "Overview"),
    ("/graph", "Evidence Graph"),
    ("/policies", "Policy Status"),
    ("/energy", "Energy"),
    ("/report", "Report"),
];

/// The pages' style sheet, inlined in each page (`assets/app.css`).
const STYLE: &str = include_str!("../assets/app.css");

/// Served as `/static/app.js` (the pages' CSP allows no inline script):
/// reloads a visible page when the trail grows (polling `/api/head`; hidden
/// tabs do not poll), and pans and zooms the Evidence Graph.
pub const SCRIPT: &str = include_str!("../assets/app.js");

/// A whole page around `body`. `live`: reload when the trail grows.
pub fn page(path: &str, title: &str, head_seq: u64, live: bool, body: Markup) -> String {
    html! {
        (PreEscaped("<!doctype html>"))
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Venturalitica" }
                style { (PreEscaped(STYLE)) }
            }
            body data-head=(head_seq) data-live[live] {
                header {
                    b { "Venturalitica" }
                    @for (href, name) in PAGES {
                        a href=(href) class=[(href == path).then_some("here")] { (name) }
                    }
                }
                main { (body) }
                script src="/static/app.js" {}
            }
        }
    }
    .into_string()
}

/// A page on its own (a file, a PDF): the dashboard's style, no navigation
/// and no script.
pub fn standalone(title: &str, body: Markup) -> String {
    html! {
        (PreEscaped("<!doctype html>"))
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body { main { (body) } }
        }
    }
    .into_string()
}

/// A status pill: PASS / FAIL / ERROR.
pub fn pill(status: &str) -> Markup {
    let class = match status {
        "pass" => "pass",
        "fail" => "fail",
        "inconclusive" => "inconclusive",
        _ => "error",
    };
    html! { span class=(format!("pill {class}")) { (status.to_uppercase()) } }
}

/// A number for a table: 4 significant digits, or a dash.
pub fn num(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => {
            let digits = if v == 0.0 {
                0
            } else {
                (v.abs().log10().floor() as i32).max(-20)
            };
            let decimals = (3 - digits).clamp(0, 8) as usize;
            format!("{v:.decimals$}")
        }
        _ => "—".to_string(),
    }
}

/// A path's last component (titles that are paths get long).
pub fn file_name(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

/// The first 12 characters of a hash, with the full one on hover.
pub fn short_hash(hash: &str) -> Markup {
    let short: String = hash.chars().take(12).collect();
    html! { code title=(hash) { (short) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
    }

    #[test]
    fn numbers_keep_four_significant_digits() {
        assert_eq!(num(Some(0.79482)), "0.7948");
        assert_eq!(num(Some(123.456)), "123.5");
        assert_eq!(num(Some(0.0)), "0.000");
        assert_eq!(num(None), "—");
        assert_eq!(num(Some(f64::NAN)), "—");
    }
}
