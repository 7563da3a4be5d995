//! `venturalitica export mlflow`.

use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::Context;
use venturalitica_evidence::Store;
use venturalitica_export::{export_mlflow, Auth, Summary, Target};

use crate::args::MlflowArgs;
use crate::Outcome;

/// The experiment used when none is named.
pub const DEFAULT_EXPERIMENT: &str = "venturalitica";

pub fn mlflow(args: MlflowArgs) -> anyhow::Result<Outcome> {
    let root = super::project_root(args.root.as_deref())?;
    let tracking_uri = args
        .tracking_uri
        .or_else(|| std::env::var("MLFLOW_TRACKING_URI").ok())
        .context("no tracking server: pass --tracking-uri or set MLFLOW_TRACKING_URI")?;
    let summary = export(
        &root,
        &tracking_uri,
        args.experiment,
        args.session,
        std::io::stderr().is_terminal(),
    )?;
    let mut out = std::io::stdout().lock();
    for r in &summary.runs {
        writeln!(
            out,
            "run {} ({}): {} new events, {} metric points, {} spans",
            r.run_id, r.name, r.new_events, r.metrics_sent, r.spans_sent
        )?;
        if let Some(trace) = &r.trace_id {
            writeln!(out, "  trace {trace}")?;
        }
        if let Some(why) = &r.trace_skipped {
            writeln!(out, "  trace not exported: {why}")?;
        }
    }
    let unchanged = match summary.up_to_date {
        0 => String::new(),
        n => format!("; {n} up to date, left as they are"),
    };
    writeln!(
        out,
        "exported to {tracking_uri}, experiment {} ({} runs{unchanged})",
        summary.experiment_id,
        summary.runs.len()
    )?;
    Ok(Outcome::Passed)
}

/// Exports the store at `root`; a progress bar on a terminal.
pub fn export(
    root: &Path,
    tracking_uri: &str,
    experiment: Option<String>,
    session: Option<u64>,
    show_progress: bool,
) -> anyhow::Result<Summary> {
    let store = Store::existing(root).with_context(|| {
        format!(
            "no evidence store in {} (nothing to export)",
            root.display()
        )
    })?;
    let experiment = experiment
        .or_else(|| std::env::var("MLFLOW_EXPERIMENT_NAME").ok())
        .unwrap_or_else(|| DEFAULT_EXPERIMENT.to_string());
    let target = Target {
        tracking_uri: tracking_uri.to_string(),
        experiment,
        auth: Auth::from_env(),
        session,
    };
    let bar = show_progress.then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} events: {msg} {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let summary = export_mlflow(&store, &target, |stage, done, total| {
        if let Some(bar) = &bar {
            bar.set_message(stage.as_str());
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    })
    .with_context(|| format!("export to {tracking_uri} stopped"))?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(summary)
}
