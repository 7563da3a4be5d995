//! `venturalitica agent`: serves the agent protocol outside a proxy (the
//! Python package starts it when no proxy gave it an endpoint). What it
//! answers is `venturalitica-serve`'s.

use std::io::Write;
use std::sync::Arc;

use serde_json::json;
use venturalitica_kernel::agent::serve_until_stdin_closes;
use venturalitica_serve::{energy_setting, EngineHandler, Root};

use crate::args::AgentArgs;
use crate::Outcome;

/// Prints `{"endpoint", "key", "pid"}` as one JSON line, then serves until
/// standard input closes.
pub fn run(args: AgentArgs) -> anyhow::Result<Outcome> {
    let (root, energy) = match args.root {
        Some(root) => (Root::Session(root.clone()), energy_setting(&root)),
        None => {
            let here = super::project_root(None)?;
            (Root::Caller, energy_setting(&here))
        }
    };
    let handler = Arc::new(EngineHandler::new(root, "python", energy));
    serve_until_stdin_closes(handler, |endpoint| {
        let mut out = std::io::stdout().lock();
        let line = json!({
            "endpoint": endpoint.address(),
            "key": endpoint.key(),
            "pid": std::process::id(),
        });
        writeln!(out, "{line}")?;
        out.flush()
    })?;
    Ok(Outcome::Passed)
}
