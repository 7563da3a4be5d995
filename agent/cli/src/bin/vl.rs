//! `vl`: the short alias of `venturalitica`.
//!
//! A wheel cannot hold a symlink, and a second full build of the agent would
//! double the download, so `vl` is a few hundred kilobytes that replace
//! themselves (`exec`: same pid, signals and exit status) with the
//! `venturalitica` binary installed beside them. It links nothing from the
//! agent's library, so the linker keeps only the standard library.
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

const AGENT: &str = "venturalitica";

fn main() -> ExitCode {
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| OsString::from("vl"));
    let agent = sibling_agent().unwrap_or_else(|| PathBuf::from(AGENT));
    // `exec` only returns on failure.
    let err = Command::new(&agent).arg0(arg0).args(args).exec();
    eprintln!(
        "vl: cannot start {} ({err}); reinstall the package (pip install venturalitica)",
        agent.display()
    );
    ExitCode::from(2)
}

/// `venturalitica` in the directory this program was installed to; `None`
/// sends the lookup to `PATH`.
fn sibling_agent() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let agent = exe.parent()?.join(AGENT);
    agent.is_file().then_some(agent)
}
