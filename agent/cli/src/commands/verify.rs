//! `venturalitica verify`.

use std::io::Write;

use venturalitica_evidence::Store;

use crate::args::VerifyArgs;
use crate::Outcome;

pub fn run(args: VerifyArgs) -> anyhow::Result<Outcome> {
    let root = super::project_root(args.root.as_deref())?;
    let Some(store) = Store::existing(&root) else {
        anyhow::bail!("{}: no .venturalitica/ evidence store here", root.display());
    };
    let report = store.verify()?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        for f in &report.findings {
            let at = f
                .line
                .map(|l| format!("trace.jsonl:{l}: "))
                .unwrap_or_default();
            writeln!(out, "FAIL {at}{}", f.message)?;
        }
        for n in &report.notes {
            writeln!(out, "note: {n}")?;
        }
        let verdict = if report.ok() { "intact" } else { "ALTERED" };
        writeln!(
            out,
            "{verdict}: {} events, {} policy copies checked in {}",
            report.events,
            report.policies_checked,
            store.dir().display()
        )?;
    }
    Ok(if report.ok() {
        Outcome::Passed
    } else {
        Outcome::Failed
    })
}
