//! The SVG evidence chart of one policy evaluation.
//!
//! Input is a results document (`venturalitica_vocab::results::Results`,
//! `schemas/results.schema.json`; [`render_json`] reads it from JSON), so
//! the chart needs neither polars nor the engine: the agent draws it for the Python
//! package, the evidence store keeps it under `.venturalitica/charts/`, and
//! the dashboard shows it. Per control, a bullet row shows the value with its
//! bootstrap interval against the threshold; below it, one bar per group and
//! rate (selection rate, TPR, FPR, ...) on a shared 0–1 axis. plotters'
//! SVG backend escapes every label, so policy ids and group names taken from
//! user data cannot inject markup.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Deserialize;
use thiserror::Error;
use venturalitica_vocab::results::{ControlResult, Results, Status};

/// Why no chart could be drawn.
#[derive(Debug, Error)]
pub enum ChartError {
    #[error("the results are not in the results shape: {0}")]
    Shape(#[from] serde_json::Error),
    #[error("cannot draw the chart: {0}")]
    Draw(String),
}

const WIDTH: u32 = 640;
const HEADER: u32 = 34;
const CONTROL_HEAD: u32 = 64;
const BAR: u32 = 9;
const GROUP_GAP: u32 = 6;
const LABEL_W: i32 = 150;
const RIGHT_W: i32 = 70;
/// Longest group or id label drawn; longer ones end in an ellipsis.
const LABEL_CHARS: usize = 22;

const PASS: RGBColor = RGBColor(46, 125, 50);
const FAIL: RGBColor = RGBColor(198, 40, 40);
const ERROR: RGBColor = RGBColor(117, 117, 117);
const INCONCLUSIVE: RGBColor = RGBColor(239, 108, 0);
const INK: RGBColor = RGBColor(33, 33, 33);
const MUTED: RGBColor = RGBColor(120, 120, 120);
const GRID: RGBColor = RGBColor(224, 224, 224);
const RATE_COLOURS: [RGBColor; 4] = [
    RGBColor(25, 118, 210),
    RGBColor(245, 124, 0),
    RGBColor(123, 31, 162),
    RGBColor(0, 137, 123),
];

/// Draws the chart for a results document given as JSON (the Python
/// package's): an error names what is not in the results shape.
pub fn render_json(results: &serde_json::Value) -> Result<String, ChartError> {
    render(&Results::deserialize(results)?)
}

/// Draws the chart for a results document.
pub fn render(results: &Results) -> Result<String, ChartError> {
    let height = HEADER + results.controls.iter().map(control_height).sum::<u32>() + 8;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        draw(&root, results).map_err(|e| ChartError::Draw(e.to_string()))?;
        root.present()
            .map_err(|e| ChartError::Draw(e.to_string()))?;
    }
    Ok(svg)
}

fn control_height(c: &ControlResult) -> u32 {
    let rates = rate_names(c).len().max(1) as u32;
    CONTROL_HEAD + c.groups.len() as u32 * (rates * BAR + GROUP_GAP) + 10
}

/// The rate names a control's groups carry, in a stable order.
fn rate_names(c: &ControlResult) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for g in &c.groups {
        for k in g.rates.keys() {
            if !names.contains(&k.as_ref()) {
                names.push(k);
            }
        }
    }
    names
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawResult = Result<(), DrawingAreaErrorKind<std::io::Error>>;

fn draw(root: &Area<'_>, results: &Results) -> DrawResult {
    root.fill(&WHITE)?;
    let title = results.policy.name();
    let verdict = if results.passed { "PASSED" } else { "FAILED" };
    let colour = if results.passed { PASS } else { FAIL };
    root.draw(&Text::new(
        format!("Compliance evidence: {}", clip(title, 60)),
        (8, 8),
        font(14, &INK),
    ))?;
    root.draw(&Text::new(
        verdict,
        (WIDTH as i32 - 8, 8),
        font(14, &colour).pos(Pos::new(HPos::Right, VPos::Top)),
    ))?;
    let mut y = HEADER as i32;
    for c in &results.controls {
        draw_control(root, c, y)?;
        y += control_height(c) as i32;
    }
    Ok(())
}

fn draw_control(root: &Area<'_>, c: &ControlResult, top: i32) -> DrawResult {
    let colour = match c.status {
        Status::Pass => PASS,
        Status::Fail => FAIL,
        Status::Error => ERROR,
        Status::Inconclusive => INCONCLUSIVE,
    };
    let value = c
        .actual_value
        .map(|v| format!("{v:.4}"))
        .unwrap_or_else(|| "—".to_string());
    root.draw(&PathElement::new(
        vec![(8, top), (WIDTH as i32 - 8, top)],
        GRID,
    ))?;
    root.draw(&Text::new(
        format!(
            "{}  ·  {} = {value} (needs {} {})",
            clip(&c.id, 40),
            c.metric_key,
            c.operator,
            c.threshold
        ),
        (8, top + 6),
        font(12, &INK),
    ))?;
    root.draw(&Text::new(
        c.status.name().to_uppercase(),
        (WIDTH as i32 - 8, top + 6),
        font(12, &colour).pos(Pos::new(HPos::Right, VPos::Top)),
    ))?;
    if c.status == Status::Inconclusive {
        let settle = match c.rows_needed {
            Some(n) => {
                format!("the interval straddles the threshold; about {n} rows would settle it")
            }
            None => "the interval straddles the threshold; the value is at it".to_string(),
        };
        root.draw(&Text::new(
            settle,
            (WIDTH as i32 - 8, top + 44),
            font(10, &INCONCLUSIVE).pos(Pos::new(HPos::Right, VPos::Top)),
        ))?;
    }

    // The axis covers the value, its interval and the threshold.
    let mut hi = 1.0f64.max(c.threshold);
    if let Some(v) = c.actual_value {
        hi = hi.max(v);
    }
    if let Some(ci) = &c.ci {
        hi = hi.max(ci.upper);
    }
    let axis = Axis {
        x0: LABEL_W,
        x1: WIDTH as i32 - RIGHT_W,
        hi: if hi.is_finite() { hi } else { 1.0 },
    };
    let bullet = top + 26;
    root.draw(&Text::new(
        "value",
        (LABEL_W - 8, bullet + 6),
        font(11, &MUTED).pos(Pos::new(HPos::Right, VPos::Center)),
    ))?;
    match c.actual_value {
        Some(v) => {
            root.draw(&Rectangle::new(
                [(axis.x(0.0), bullet), (axis.x(v), bullet + 12)],
                colour.mix(0.85).filled(),
            ))?;
        }
        None => {
            let why = c.reason.as_deref().unwrap_or("no value");
            root.draw(&Text::new(
                clip(why, 70),
                (axis.x(0.0), bullet + 6),
                font(11, &ERROR).pos(Pos::new(HPos::Left, VPos::Center)),
            ))?;
        }
    }
    if let Some(ci) = &c.ci {
        let mid = bullet + 6;
        let (l, u) = (axis.x(ci.lower), axis.x(ci.upper));
        root.draw(&PathElement::new(vec![(l, mid), (u, mid)], INK))?;
        root.draw(&PathElement::new(vec![(l, mid - 4), (l, mid + 4)], INK))?;
        root.draw(&PathElement::new(vec![(u, mid - 4), (u, mid + 4)], INK))?;
    }

    let groups_top = top + CONTROL_HEAD as i32;
    let groups_bottom = groups_top
        + c.groups.len() as i32
            * (rate_names(c).len().max(1) as i32 * BAR as i32 + GROUP_GAP as i32);
    // The threshold line runs through the value row and the group rows.
    let tx = axis.x(c.threshold);
    root.draw(&PathElement::new(
        vec![(tx, bullet - 4), (tx, groups_bottom.max(bullet + 16))],
        ShapeStyle::from(&INK).stroke_width(2),
    ))?;
    root.draw(&Text::new(
        format!("{} {}", c.operator, c.threshold),
        (tx + 4, bullet - 8),
        font(10, &INK),
    ))?;
    draw_groups(root, c, &axis, groups_top)
}

fn draw_groups(root: &Area<'_>, c: &ControlResult, axis: &Axis, top: i32) -> DrawResult {
    let names = rate_names(c);
    if c.groups.is_empty() {
        return Ok(());
    }
    // Legend, on its own row between the value and the groups: one swatch
    // per rate.
    let mut lx = axis.x0;
    for (i, name) in names.iter().enumerate() {
        let label = name.replace('_', " ");
        let colour = RATE_COLOURS[i % RATE_COLOURS.len()];
        root.draw(&Rectangle::new(
            [(lx, top - 13), (lx + 7, top - 6)],
            colour.filled(),
        ))?;
        root.draw(&Text::new(
            label.clone(),
            (lx + 10, top - 9),
            font(10, &MUTED).pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
        lx += 24 + 6 * label.len() as i32;
    }
    let row = names.len().max(1) as i32 * BAR as i32;
    for (gi, g) in c.groups.iter().enumerate() {
        let y = top + gi as i32 * (row + GROUP_GAP as i32);
        root.draw(&Text::new(
            clip(&g.group, LABEL_CHARS),
            (LABEL_W - 8, y + row / 2),
            font(11, &INK).pos(Pos::new(HPos::Right, VPos::Center)),
        ))?;
        root.draw(&Text::new(
            format!("n={}", g.n),
            (axis.x1 + 6, y + row / 2),
            font(10, &MUTED).pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
        for (ri, name) in names.iter().enumerate() {
            let ry = y + ri as i32 * BAR as i32;
            let colour = RATE_COLOURS[ri % RATE_COLOURS.len()];
            match g.rates.get(*name).copied().flatten() {
                Some(rate) => root.draw(&Rectangle::new(
                    [(axis.x(0.0), ry + 1), (axis.x(rate), ry + BAR as i32 - 1)],
                    colour.mix(0.8).filled(),
                ))?,
                // 0/0 for this group: say so rather than draw a zero.
                None => root.draw(&Text::new(
                    "undefined",
                    (axis.x(0.0) + 2, ry + BAR as i32 / 2),
                    font(9, &MUTED).pos(Pos::new(HPos::Left, VPos::Center)),
                ))?,
            }
        }
    }
    Ok(())
}

/// Maps a value on `[0, hi]` to a pixel column.
struct Axis {
    x0: i32,
    x1: i32,
    hi: f64,
}

impl Axis {
    fn x(&self, v: f64) -> i32 {
        let t = if v.is_finite() {
            (v / self.hi).clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.x0 + (t * f64::from(self.x1 - self.x0)).round() as i32
    }
}

fn font(size: u32, colour: &RGBColor) -> TextStyle<'static> {
    ("sans-serif", size).into_font().color(colour)
}

/// `s` cut to `max` characters, ending in an ellipsis when cut (labels).
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn results(group: &str, id: &str) -> serde_json::Value {
        json!({
            "schema_version": 1, "passed": false,
            "summary": {"total": 2, "passed": 0, "failed": 1, "errors": 1},
            "evaluated_at": "2026-01-01T00:00:00.000Z",
            "engine": {"name": "venturalitica", "version": "0"},
            "policy": {"title": "Loan <policy>", "path": "p.yaml", "version": null, "uuid": null,
                       "shape": "control-list", "sha256": "0"},
            "data": {"source": "d.csv", "fingerprint": null, "rows": 22},
            "controls": [{
                "id": id, "description": null, "metric_key": "disparate_impact", "operator": ">=",
                "threshold": 0.8, "actual_value": 0.5, "status": "fail", "passed": false, "severity": null,
                "ci": {"lower": 0.25, "upper": 0.75, "level": 0.95, "method": "m", "resamples": 10,
                       "seed": 1, "undefined_resamples": 0},
                "groups": [
                    {"group": group, "n": 10, "rates": {"positive_rate": 0.5}},
                    {"group": "b", "n": 12, "rates": {"positive_rate": null}}
                ]
            }, {
                "id": "acc", "description": null, "metric_key": "accuracy", "operator": ">",
                "threshold": 0.7, "actual_value": null, "status": "error", "passed": false, "severity": null,
                "reason": "column \"y\" not found", "groups": []
            }]
        })
    }

    #[test]
    fn user_strings_are_escaped() {
        let svg = render_json(&results("<script>alert(1)</script>", "a&b\"c")).unwrap();
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.contains("a&amp;b&quot;c"));
        assert!(svg.contains("Loan &lt;policy&gt;"));
    }

    #[test]
    fn draws_value_threshold_groups_and_errors() {
        let svg = render_json(&results("f", "gender-di")).unwrap();
        assert!(svg.starts_with("<svg"));
        for text in [
            "FAILED",
            "FAIL",
            "ERROR",
            "&gt;= 0.8",
            "n=10",
            "n=12",
            "undefined",
            "positive rate",
        ] {
            assert!(svg.contains(text), "missing {text:?}");
        }
        assert!(svg.contains("column &quot;y&quot; not found"));
        // The value bar of 0.5 on a 0..1 axis from x=150 to x=570 ends at 360.
        assert!(svg.contains("x=\"150\" y=\"60\" width=\"210\""), "{svg}");
    }

    #[test]
    fn an_inconclusive_control_is_drawn_in_its_colour_with_the_rows_that_settle_it() {
        let mut doc = results("f", "age-di");
        doc["controls"][0]["status"] = json!("inconclusive");
        doc["controls"][0]["decision"] = json!("interval");
        doc["controls"][0]["rows_needed"] = json!(363_900);
        let svg = render_json(&doc).unwrap();
        assert!(svg.contains("INCONCLUSIVE"), "{svg}");
        assert!(svg.contains("about 363900 rows would settle it"), "{svg}");
        assert!(svg.contains("#EF6C00") || svg.contains("#ef6c00"), "{svg}");
    }

    #[test]
    fn long_labels_are_clipped() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
    }

    #[test]
    fn rejects_other_shapes() {
        assert!(matches!(
            render_json(&json!({"x": 1})),
            Err(ChartError::Shape(_))
        ));
    }
}
