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
[data-href] { cursor: pointer; }
.filters { display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: center; margin: 6px 0 12px; }
.filters label { display: flex; gap: 6px; align-items: center; }
.filters select, .filters input, .filters button, .graph-tools button { font: inherit; font-size: 13px; }
.graph-tools { display: flex; gap: 6px; align-items: center; margin: 4px 0; }
.graph-tools button { min-width: 34px; }
.graph-view { border: 1px solid var(--line); border-radius: 6px; overflow: auto; background: #fff; }
.graph-view:focus { outline: 2px solid #90caf9; }
.graph-view.pannable { overflow: hidden; cursor: grab; touch-action: none; }
.graph-view.dragging { cursor: grabbing; }
.graph-view svg { display: block; user-select: none; }
.graph-view a { -webkit-user-drag: none; }
.graph-view text { font: 13px system-ui, -apple-system, "Segoe UI", sans-serif; fill: var(--ink); }
.graph-view text.strong { font-weight: 600; }
.graph-view text.axis { fill: var(--muted); }
.graph-view .band { fill: #fafafa; }
.graph-view .lane:nth-of-type(even) .band { fill: #fff; }
.graph-view .pin .band { fill-opacity: 0.96; }
.graph-view .box { stroke-width: 1; }
.graph-view .head .box { fill: #e3f2fd; stroke: #90caf9; }
.graph-view .node.pass .box { fill: #e8f5e9; stroke: #66bb6a; }
.graph-view .node.fail .box { fill: #ffebee; stroke: #e57373; }
.graph-view .node.open .box { stroke: var(--ink); stroke-width: 3; }
.graph-view .more .box { fill: #f5f5f5; stroke: #9e9e9e; stroke-dasharray: 4 3; }
.graph-view a:hover .box { stroke-width: 2.5; }
.graph-view .link { stroke: #bdbdbd; stroke-width: 1.5; }
.details tr:target { background: #fff8e1; }
.policy-text .ln { color: var(--muted); user-select: none; }
.policy-text .control-line { font-weight: 600; }
.policy-text :target { background: #fff59d; }
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
/// tabs do not poll), and pans and zooms the Evidence Graph.
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
  var view = document.querySelector(".graph-view");
  var svg = view && view.querySelector("svg");
  if (svg) { pannable(view, svg); }

  // The Evidence Graph: drag to pan, wheel / buttons / keys to zoom. The SVG
  // is drawn at one unit per pixel, so scale 1 is labels at body size.
  function pannable(view, svg) {
    var W = parseFloat(svg.getAttribute("width")), H = parseFloat(svg.getAttribute("height"));
    var key = "vl-graph" + location.search;
    var pins = svg.querySelectorAll(".pin");
    var v = {x: 0, y: 0, s: 1};
    try { v = JSON.parse(sessionStorage.getItem(key)) || v; } catch (e) {}
    var apply = function () {
      var w = view.clientWidth, h = view.clientHeight;
      svg.setAttribute("width", w);
      svg.setAttribute("height", h);
      svg.setAttribute("viewBox", [v.x, v.y, w / v.s, h / v.s].join(" "));
      view.setAttribute("data-scale", v.s.toFixed(3));
      // Lane heads stay at the left edge however far the lanes pan.
      pins.forEach(function (p) { p.setAttribute("transform", "translate(" + Math.max(0, v.x) + " 0)"); });
      try { sessionStorage.setItem(key, JSON.stringify(v)); } catch (e) {}
    };
    // Zooms by `factor` keeping the point (cx, cy) of the view still.
    var zoomAt = function (factor, cx, cy) {
      var s = Math.min(4, Math.max(0.05, v.s * factor));
      v.x += cx / v.s - cx / s;
      v.y += cy / v.s - cy / s;
      v.s = s;
      apply();
    };
    var centre = function () { return [view.clientWidth / 2, view.clientHeight / 2]; };
    var actions = {
      "in": function () { var c = centre(); zoomAt(1.25, c[0], c[1]); },
      "out": function () { var c = centre(); zoomAt(0.8, c[0], c[1]); },
      "fit": function () { v = {x: 0, y: 0, s: Math.min(1, view.clientWidth / W, view.clientHeight / H)}; apply(); },
      "reset": function () { v = {x: 0, y: 0, s: 1}; apply(); }
    };
    view.classList.add("pannable");
    view.addEventListener("wheel", function (e) {
      e.preventDefault();
      var r = view.getBoundingClientRect();
      zoomAt(e.deltaY < 0 ? 1.2 : 1 / 1.2, e.clientX - r.left, e.clientY - r.top);
    }, {passive: false});
    var drag = null, moved = false;
    view.addEventListener("pointerdown", function (e) {
      drag = {x: e.clientX, y: e.clientY, vx: v.x, vy: v.y};
      moved = false;
    });
    window.addEventListener("pointermove", function (e) {
      if (!drag) { return; }
      var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (!moved && Math.abs(dx) + Math.abs(dy) > 4) { moved = true; view.classList.add("dragging"); }
      if (moved) { v.x = drag.vx - dx / v.s; v.y = drag.vy - dy / v.s; apply(); }
    });
    window.addEventListener("pointerup", function () { drag = null; view.classList.remove("dragging"); });
    // A drag that ends on a node pans; it does not open the node.
    view.addEventListener("click", function (e) { if (moved) { e.preventDefault(); moved = false; } }, true);
    view.addEventListener("dragstart", function (e) { e.preventDefault(); });
    view.addEventListener("keydown", function (e) {
      var step = 80 / v.s, k = e.key;
      if (k === "+" || k === "=") { actions["in"](); }
      else if (k === "-") { actions["out"](); }
      else if (k === "0") { actions["reset"](); }
      else if (k === "ArrowLeft") { v.x -= step; apply(); }
      else if (k === "ArrowRight") { v.x += step; apply(); }
      else if (k === "ArrowUp") { v.y -= step; apply(); }
      else if (k === "ArrowDown") { v.y += step; apply(); }
      else { return; }
      e.preventDefault();
    });
    document.querySelectorAll("[data-zoom]").forEach(function (b) {
      b.addEventListener("click", function () { actions[b.getAttribute("data-zoom")](); });
    });
    window.addEventListener("resize", apply);
    // An opened evaluation off screen is brought into view (at 1:1).
    var open = svg.querySelector(".node.open .box");
    if (open && !sessionStorage.getItem(key)) {
      var x = parseFloat(open.getAttribute("x"));
      if (x + 200 > view.clientWidth) { v.x = x - view.clientWidth / 2; }
    }
    apply();
  }
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

/// A path's last component (titles that are paths get long).
pub fn file_name(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
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
