//! `venturalitica reference`: a reference dataset recorded for drift.

use anyhow::Context;
use venturalitica_engine::{open_data, reference, DataSet};

use crate::args::ReferenceArgs;
use crate::Outcome;

pub fn run(args: ReferenceArgs) -> anyhow::Result<Outcome> {
    let data = DataSet {
        frame: open_data(&args.data)?,
        source: args.data.display().to_string(),
        streaming: false,
    };
    let snapshot =
        venturalitica_engine::build_reference(data, &args.columns, &args.name, args.bins)?;
    let root = super::project_root(args.root.as_deref())?;
    let (appended, sha) = venturalitica_serve::reference::record(&root, &snapshot, "cli")
        .context("cannot record the reference in the evidence trail")?;
    let numeric = snapshot
        .columns
        .values()
        .filter(|c| matches!(c, reference::ColumnSummary::Numeric { .. }))
        .count();
    println!(
        "reference {:?}: {} rows, {} columns ({numeric} numeric in {} bins, {} categorical) from {}; kept as references/{sha}.json, event {}",
        snapshot.name,
        snapshot.rows,
        snapshot.columns.len(),
        args.bins,
        snapshot.columns.len() - numeric,
        snapshot.source,
        appended.seq
    );
    for (column, why) in &snapshot.skipped {
        println!("  left out {column:?}: {why} (name it with --columns to make that an error)");
    }
    Ok(Outcome::Passed)
}
