//! The terminal table of `enforce`.

use std::io::IsTerminal;

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, Color, ContentArrangement, Table};
use venturalitica_engine::results::{EnforcementMode, Results, Status};

use super::number;

/// Colour only on a terminal, and never when NO_COLOR is set.
pub fn use_colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

pub fn render(results: &Results, colour: bool) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    t.set_header(["control", "metric", "value", "95% CI", "rule", "status"]);
    for c in &results.controls {
        let value = c.actual_value.map(number).unwrap_or_else(|| "-".into());
        let ci =
            c.ci.as_ref()
                .map(|ci| format!("[{}, {}]", number(ci.lower), number(ci.upper)))
                .unwrap_or_else(|| "-".into());
        let mut label = c.status.name().to_uppercase();
        if c.status != Status::Pass && c.enforcement_mode != EnforcementMode::Block {
            label = format!("{label} ({})", c.enforcement_mode);
        }
        let mut status = Cell::new(label);
        if colour {
            status = status.fg(match c.status {
                Status::Pass => Color::Green,
                Status::Fail => Color::Red,
                Status::Error => Color::Yellow,
                Status::Inconclusive => Color::Magenta,
            });
        }
        t.add_row(vec![
            Cell::new(&c.id),
            Cell::new(&c.metric_key),
            Cell::new(value),
            Cell::new(ci),
            Cell::new(format!("{} {}", c.operator, number(c.threshold))),
            status,
        ]);
    }
    let mut out = format!("{t}\n");
    for c in results
        .controls
        .iter()
        .filter(|c| c.status == Status::Error)
    {
        out.push_str(&format!(
            "error in {}: {}\n",
            c.id,
            c.reason.as_deref().unwrap_or("unknown")
        ));
    }
    for c in results
        .controls
        .iter()
        .filter(|c| c.status == Status::Inconclusive)
    {
        out.push_str(&format!(
            "inconclusive {}: {}\n",
            c.id,
            c.reason
                .as_deref()
                .unwrap_or("the interval straddles the threshold")
        ));
    }
    for w in &results.policy.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    for c in &results.controls {
        for w in &c.warnings {
            out.push_str(&format!("warning in {}: {w}\n", c.id));
        }
    }
    if !results.manual_controls.is_empty() {
        out.push_str(&format!(
            "not automatable (no metric): {}\n",
            results.manual_controls.join(", ")
        ));
    }
    let s = &results.summary;
    out.push_str(&format!(
        "{}: {} passed, {} failed, {} errors ({} rows, policy {} sha256:{})\n",
        if results.passed { "PASSED" } else { "FAILED" },
        s.passed,
        s.failed,
        s.errors,
        results
            .data
            .rows
            .map(|r| r.to_string())
            .unwrap_or_else(|| "-".into()),
        results
            .policy
            .title
            .as_deref()
            .unwrap_or(&results.policy.path),
        &results.policy.sha256[..12],
    ));
    out
}
