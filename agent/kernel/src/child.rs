//! The real kernel as a child process.
//!
//! The child runs in its own process group. Jupyter interrupts a kernel by
//! signalling the launched process's group; with the child in that group too
//! it would get SIGINT twice (once from the server, once forwarded by the
//! proxy). In its own group it gets exactly the one the proxy forwards. It is
//! not put in a new session, and it is killed if the proxy dies
//! (`PR_SET_PDEATHSIG`), so no kernel outlives its proxy.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::KernelError;

/// The placeholder Jupyter puts in kernelspec `argv`s.
pub const CONNECTION_FILE: &str = "{connection_file}";

/// A started kernel.
#[derive(Debug)]
pub struct ChildKernel {
    pub child: Child,
}

impl ChildKernel {
    /// Starts `argv` with `{connection_file}` replaced by `connection_file`.
    ///
    /// Jupyter substitutes `{connection_file}` everywhere in a spec's argv,
    /// including the wrapped kernel's part after `--`, so the proxy's own
    /// connection file (`outer`) in `argv` is replaced too.
    ///
    /// Must be called on a thread that lives as long as the proxy (the main
    /// thread): the death signal fires when the spawning thread exits.
    pub fn spawn(
        argv: &[String],
        outer: &Path,
        connection_file: &Path,
        env: &[(String, String)],
    ) -> Result<ChildKernel, KernelError> {
        let (program, args) = argv.split_first().ok_or(KernelError::NoKernelCommand)?;
        let outer = outer.to_string_lossy();
        let file = connection_file.to_string_lossy();
        let args: Vec<String> = args
            .iter()
            .map(|a| {
                if *a == *outer {
                    file.to_string()
                } else {
                    a.replace(CONNECTION_FILE, &file)
                }
            })
            .collect();
        if !args.iter().any(|a| a.contains(file.as_ref())) {
            return Err(KernelError::NoPlaceholder {
                argv: argv.join(" "),
            });
        }
        let mut cmd = Command::new(program);
        cmd.args(&args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .process_group(0);
        set_parent_death_signal(&mut cmd);
        let child = cmd.spawn().map_err(|source| KernelError::Spawn {
            program: program.clone(),
            source,
        })?;
        Ok(ChildKernel { child })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` to the kernel; a kernel already gone is not an error.
    pub fn signal(&self, signal: Signal) {
        let Ok(pid) = i32::try_from(self.child.id()) else {
            return;
        };
        if let Err(e) = kill(Pid::from_raw(pid), signal) {
            tracing::debug!(%e, ?signal, "signal to kernel not delivered");
        }
    }
}

#[allow(unsafe_code)]
fn set_parent_death_signal(cmd: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and calls only
    // prctl(2), which is async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
        });
    }
}

/// The exit code a shell would report for `status` (128 + signal if killed).
pub fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}
