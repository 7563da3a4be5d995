//! HTML building blocks: escaping, the page frame, status pills.
//!
//! Every string that comes from the trail (policy titles, control ids,
//! group and column names, paths) goes through [`esc`].

use std::fmt::Write;

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

const STYLE: &str = r#"
:root { --pass:#2e7d32; --fail:#c62828; --error:#616161; --ink:#212121; --muted:#757575; --line:#e0e0e0; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); margin: 0; }
header { display: flex; gap: 18px; align-items: center; padding: 10px 24px; border-bottom: 1px solid var(--line); background: #fafafa; }
header b { font-size: 16px; margin-right: 12px; }
header a { color: var(--ink); text-decoration: none; padding: 4px 2px; }
header a.here { border-bottom: 2px solid var(--ink); }
main { padding: 18px 24px; max-width: 1500px; }
h1 { font-size: 20px; margin: 4px 0 12px; }
h2 { font-size: 16px; margin: 22px 0 8px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 14px; }
th, td { text-align: left; padding: 4px 7px; font-size: 13px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; background: #f5f5f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
.pill { display: inline-block; color: #fff; border-radius: 3px; padding: 0 7px; font-weight: 600; font-size: 12px; }
.pass { background: var(--pass); } .fail { background: var(--fail); } .error { background: var(--error); }
.muted { color: var(--muted); }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0 16px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; min-width: 170px; }
.card .big { font-size: 22px; font-weight: 600; }
.graph svg { max-width: 100%; height: auto; }
.graph [data-href] { cursor: pointer; }
pre { background: #f7f7f7; padding: 10px; overflow: auto; font-size: 12px; }
@media print {
  header, .noprint { display: none; }
  main { max-width: none; padding: 0; }
  body { font-size: 11pt; }
  h2 { break-after: avoid; }
  table, .card { break-inside: avoid; }
}
"#;

/// Served as `/static/app.js` (the pages' CSP allows no inline script):
/// reloads a visible page when the trail grows (polling `/api/head`; hidden
/// tabs do not poll), and makes graph nodes links.
pub const SCRIPT: &str = r#"
(function () {
  var head = document.body.getAttribute("data-head");
  if (document.body.hasAttribute("data-live")) {
    // Only a page someone can see asks; a hidden tab catches up when shown.
    var poll = function () {
      if (document.visibilityState !== "visible") { return; }
      fetch("/api/head", {credentials: "same-origin"}).then(function (r) { return r.json(); })
        .then(function (h) { if (String(h.seq) !== head) { location.reload(); } })
        .catch(function () {});
    };
    setInterval(poll, 2000);
    document.addEventListener("visibilitychange", poll);
  }
  document.querySelectorAll("[data-href]").forEach(function (n) {
    n.addEventListener("click", function () { location.href = n.getAttribute("data-href"); });
  });
})();
"#;

/// A whole page around `body`. `live`: reload when the trail grows.
pub fn page(path: &str, title: &str, head_seq: u64, live: bool, body: &str) -> String {
    let mut nav = String::new();
    for (href, name) in PAGES {
        let here = if href == path { " class=\"here\"" } else { "" };
        let _ = write!(nav, "<a href=\"{href}\"{here}>{name}</a>");
    }
    let live = if live { " data-live" } else { "" };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · Venturalitica</title><style>{STYLE}</style></head>\
         <body data-head=\"{head_seq}\"{live}><header><b>Venturalitica</b>{nav}</header>\
         <main>{body}</main><script src=\"/static/app.js\"></script></body></html>",
        esc(title)
    )
}

/// A page on its own (a file, a PDF): the dashboard's style, no navigation
/// and no script.
pub fn standalone(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{}</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        esc(title)
    )
}

/// A status pill: PASS / FAIL / ERROR.
pub fn pill(status: &str) -> String {
    let class = match status {
        "pass" => "pass",
        "fail" => "fail",
        _ => "error",
    };
    format!(
        "<span class=\"pill {class}\">{}</span>",
        esc(&status.to_uppercase())
    )
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

/// The first 12 characters of a hash, with the full one on hover.
pub fn short_hash(hash: &str) -> String {
    let short: String = hash.chars().take(12).collect();
    format!("<code title=\"{}\">{}</code>", esc(hash), esc(&short))
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
