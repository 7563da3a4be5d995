//! `venturalitica enforce`.

use std::io::Write;

use anyhow::Context;
use venturalitica_engine::{evaluate, open_data, DataSet, Mapping};
use venturalitica_policy::load_policy;

use crate::args::{EnforceArgs, Format};
use crate::output::{junit, table};
use crate::Outcome;

pub fn run(args: EnforceArgs) -> anyhow::Result<Outcome> {
    let mut policy = load_policy(&args.policy)?;
    if let Some(how) = args.decision {
        policy.decide_every_control(how.decision());
    }
    let frame = open_data(&args.data)?;
    let mut mapping = Mapping::new();
    if let Some(t) = &args.target {
        mapping = mapping.with("target", t);
    }
    if let Some(p) = &args.prediction {
        mapping = mapping.with("prediction", p);
    }
    for (var, col) in &args.mapping {
        mapping = mapping.with(var, col);
    }
    let data = DataSet {
        frame,
        source: args.data.display().to_string(),
        streaming: args.streaming || is_large(&args.data),
    };
    let root = super::project_root(args.root.as_deref())?;
    let default = args.reference.as_deref();
    let needed = venturalitica_serve::reference::names_needed(&policy, default);
    let references = venturalitica_serve::reference::resolve(&root, &needed, default)
        .map_err(anyhow::Error::msg)?;
    let results = evaluate(&policy, data, &mapping, &references)?;

    if let Some(path) = &args.junit {
        std::fs::write(path, junit::render(&results))
            .with_context(|| format!("cannot write the JUnit report to {}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&results)?)?,
        Format::Table => write!(out, "{}", table::render(&results, table::use_colour()))?,
    }
    drop(out);
    // Recorded after printing, so a store that cannot be written (a
    // read-only checkout) still shows the results, then fails with exit 2.
    if !args.no_record {
        venturalitica_serve::record::evaluation(&root, &policy.sources, &results, "cli", &[])
            .context("cannot record the evaluation in the evidence trail")?;
    }
    Ok(if results.passed {
        Outcome::Passed
    } else {
        Outcome::Failed
    })
}

/// Files above this size are streamed rather than read into memory.
const STREAM_ABOVE_BYTES: u64 = 2 << 30;

fn is_large(path: &std::path::Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() > STREAM_ABOVE_BYTES)
}
