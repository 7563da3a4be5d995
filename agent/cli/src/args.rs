//! Command-line arguments. The `///` comments are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Compliance as metadata for ML: evaluate fairness and data-quality
/// policies, and keep a tamper-evident evidence trail.
#[derive(Debug, Parser)]
#[command(name = "venturalitica", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate a policy on a dataset (CSV, Parquet or Arrow IPC).
    ///
    /// Exits 0 when every blocking control passes, 1 when one fails or
    /// cannot be evaluated, 2 on bad input.
    Enforce(EnforceArgs),
    /// Check that the evidence trail was not edited, cut or reordered.
    ///
    /// Exits 0 when the chain and every policy copy check out, 1 otherwise.
    Verify(VerifyArgs),
}

/// Output formats of `enforce`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table for people.
    Table,
    /// The results JSON (see schemas/results.schema.json).
    Json,
}

#[derive(Debug, Args)]
pub struct EnforceArgs {
    /// The dataset: .csv, .tsv, .parquet, .arrow, .ipc or .feather.
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,

    /// The policy: OSCAL YAML or JSON (component-definition, catalog,
    /// profile, system-security-plan, assessment-plan) or a list of controls.
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,

    /// Column bound to the policy's `target` variable.
    #[arg(long, value_name = "COLUMN")]
    pub target: Option<String>,

    /// Column bound to the policy's `prediction` variable.
    #[arg(long, value_name = "COLUMN")]
    pub prediction: Option<String>,

    /// Bind a policy variable to a column, e.g. gender=Attribute9.
    #[arg(value_name = "VAR=COLUMN", value_parser = parse_mapping)]
    pub mapping: Vec<(String, String)>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Also write a JUnit XML report (one test case per control) to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Project root holding .venturalitica/ [default: the nearest ancestor
    /// with .venturalitica/, .git or pyproject.toml]
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Do not record this evaluation in the evidence trail.
    #[arg(long)]
    pub no_record: bool,

    /// Stream the data through each query instead of reading the used
    /// columns into memory (automatic for files over 2 GiB): slower, but for
    /// data larger than memory.
    #[arg(long)]
    pub streaming: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Project root holding .venturalitica/ [default: as for enforce]
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_mapping(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((var, col)) if !var.trim().is_empty() && !col.trim().is_empty() => {
            Ok((var.trim().to_string(), col.trim().to_string()))
        }
        _ => Err(format!(
            "expected VAR=COLUMN (e.g. gender=Attribute9), got {s:?}"
        )),
    }
}
