//! `venturalitica scan`: the bill of materials and the latest status of
//! every control; exit 1 when one blocks.

use std::io::Write;

use anyhow::Context;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, Color, ContentArrangement, Table};
use venturalitica_engine::results::{EnforcementMode, Status};

use crate::args::{Format, ScanArgs};
use crate::output::{junit, number, table::use_colour};
use crate::Outcome;

pub fn run(args: ScanArgs) -> anyhow::Result<Outcome> {
    let root = super::project_root(args.root.as_deref())?;
    let scan = venturalitica_scan::scan(&root)
        .with_context(|| format!("cannot scan {}", root.display()))?;
    if let Some(path) = &args.junit {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        std::fs::write(path, junit::render_latest(&scan.controls, &now))
            .with_context(|| format!("cannot write the JUnit report to {}", path.display()))?;
    }
    let counts = scan.component_counts();
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&scan.report())?)?,
        Format::Table => {
            let colour = use_colour();
            let mut t = Table::new();
            t.load_preset(UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_header([
                    "policy",
                    "control",
                    "metric",
                    "value",
                    "rule",
                    "status",
                    "evaluated",
                ]);
            for c in &scan.controls {
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
                    Cell::new(c.policy_title.as_deref().unwrap_or(&c.policy)),
                    Cell::new(&c.control_id),
                    Cell::new(&c.metric_key),
                    Cell::new(c.actual_value.map(number).unwrap_or_else(|| "-".into())),
                    Cell::new(format!(
                        "{} {}",
                        c.operator,
                        c.threshold.map(number).unwrap_or_default()
                    )),
                    status,
                    Cell::new(&c.evaluated_at),
                ]);
            }
            if scan.controls.is_empty() {
                writeln!(out, "No control has been evaluated in this project yet.")?;
            } else {
                writeln!(out, "{t}")?;
            }
            let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
            writeln!(
                out,
                "BOM: {} ({}) -> {}",
                scan.bom["components"].as_array().map_or(0, Vec::len),
                parts.join(", "),
                scan.bom_path.display()
            )?;
            let blocking = scan.controls.iter().filter(|c| c.blocks()).count();
            writeln!(
                out,
                "{}: {} controls, {} blocking failures or errors; {}",
                if scan.passed { "PASSED" } else { "FAILED" },
                scan.controls.len(),
                blocking,
                scan.latest_path.display()
            )?;
            writeln!(
                out,
                "anchor: {} (keep it outside the project; `venturalitica verify --head` checks it)",
                scan.anchor
            )?;
        }
    }
    Ok(if scan.passed {
        Outcome::Passed
    } else {
        Outcome::Failed
    })
}
