//! `vl`: the short alias of `venturalitica`.
//!
//! A wheel cannot hold a symlink, and a second full build of the agent would
//! double the download, so `vl` is a few hundred kilobytes that hand over to
//! the `venturalitica` binary installed beside them (Unix `exec`: same pid,
//! signals and exit status; Windows has no `exec`, so it spawns, waits and
//! passes the exit code on). It links nothing from the agent's library but
//! [`venturalitica_os::hand_over`], so the linker keeps little else.
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

const AGENT: &str = "venturalitica";

fn main() -> ExitCode {
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| OsString::from("vl"));
    let agent = sibling_agent().unwrap_or_else(|| PathBuf::from(AGENT));
    match venturalitica_os::hand_over(Command::new(&agent).args(args), &arg0) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(err) => {
            eprintln!(
                "vl: cannot start {} ({err}); reinstall the package (pip install venturalitica)",
                agent.display()
            );
            ExitCode::from(2)
        }
    }
}

/// `venturalitica` in the directory this program was installed to; `None`
/// sends the lookup to `PATH`.
fn sibling_agent() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let agent = exe
        .parent()?
        .join(format!("{AGENT}{}", std::env::consts::EXE_SUFFIX));
    agent.is_file().then_some(agent)
}
