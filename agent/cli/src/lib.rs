//! The `venturalitica` command line: a thin layer over the library crates.
//!
//! # Layout
//!
//! - [`args`]: the clap definitions; their doc comments are the help text.
//! - `commands`: one module per subcommand, each returning an [`Outcome`].
//! - `output`: the terminal table and the JUnit XML report.
//!
//! Exit codes: 0 all controls passed, 1 a control failed or could not be
//! evaluated, 2 bad input or usage.

pub mod args;
mod commands;
mod output;

use std::io::Write;
use std::process::ExitCode;

/// How a command ended, mapped to the documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    /// Exit with this status (the proxy passes on its kernel's).
    Exit(u8),
}

/// Parses the process arguments, runs the command and maps errors to exit codes.
pub fn main_exit() -> ExitCode {
    let cli = match args::Cli::try_parse_invoked() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(cli) {
        Ok(Outcome::Passed) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(1),
        Ok(Outcome::Exit(code)) => ExitCode::from(code),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Warnings and errors of one-shot commands go to stderr (the kernel proxy
/// and the agent set up their own logging).
fn log_to_stderr() {
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs a parsed command line.
pub fn run(cli: args::Cli) -> anyhow::Result<Outcome> {
    if !matches!(
        cli.command,
        args::Command::Kernel(_) | args::Command::Agent(_)
    ) {
        log_to_stderr();
    }
    match cli.command {
        args::Command::Enforce(a) => commands::enforce::run(a),
        args::Command::Reference(a) => commands::reference::run(a),
        args::Command::Agent(a) => commands::agent::run(a),
        args::Command::Ui(a) => commands::ui::run(a),
        args::Command::Verify(a) => commands::verify::run(a),
        args::Command::Approve(a) => commands::approve::run(a),
        args::Command::Key(args::KeyCommand::Show(a)) => commands::key::show(a),
        args::Command::Kernel(k) => commands::kernel::run(k),
        args::Command::Monitor(a) => commands::monitor::run(a),
        args::Command::Scan(a) => commands::scan::run(a),
        args::Command::Export(args::ExportCommand::Mlflow(a)) => commands::export::mlflow(a),
        args::Command::Report(args::ReportCommand::AnnexIv(a)) => commands::report::annex_iv(a),
    }
}
