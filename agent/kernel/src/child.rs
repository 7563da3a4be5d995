//! The real kernel as a child process, tied to the proxy's life
//! ([`venturalitica_os::TiedChild`]: its own process group and a death
//! signal on Linux, the kernel's parent poller on macOS, a Job Object with
//! kill-on-close on Windows), so no kernel outlives its proxy.

use std::path::Path;
use std::process::Command;

use venturalitica_os::{Notice, TiedChild, Waiter};

use crate::KernelError;

/// The placeholder Jupyter puts in kernelspec `argv`s.
pub const CONNECTION_FILE: &str = "{connection_file}";

/// A started kernel.
#[derive(Debug)]
pub struct ChildKernel {
    child: TiedChild,
}

impl ChildKernel {
    /// Starts `argv` with `{connection_file}` replaced by `connection_file`.
    ///
    /// Jupyter substitutes `{connection_file}` everywhere in a spec's argv,
    /// including the wrapped kernel's part after `--`, so the proxy's own
    /// connection file (`outer`) in `argv` is replaced too.
    ///
    /// Must be called on a thread that lives as long as the proxy (the main
    /// thread): on Linux the death signal fires when the spawning thread
    /// exits.
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
        cmd.args(&args).envs(env.iter().map(|(k, v)| (k, v)));
        let child = TiedChild::spawn(&mut cmd).map_err(|source| KernelError::Spawn {
            program: program.clone(),
            source,
        })?;
        Ok(ChildKernel { child })
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// Passes `notice` on to the kernel; a kernel already gone is not an
    /// error.
    pub fn deliver(&self, notice: Notice) {
        self.child.deliver(notice);
    }

    /// What waits for the kernel's exit.
    pub fn waiter(&self) -> Result<Waiter, KernelError> {
        self.child.waiter().map_err(KernelError::Runtime)
    }
}
