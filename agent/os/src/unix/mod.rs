//! Unix: process groups, signals, `exec`, file modes.

pub mod private;

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::signal::unix::{signal, SignalKind};

use crate::{Notice, TreeUsage};

/// How often the proxy checks that the process that started it is alive.
const PARENT_POLL: Duration = Duration::from_secs(1);

/// A child in its own process group, killed when this process dies.
///
/// Jupyter interrupts a kernel by signalling the launched process's group;
/// with the child in that group too it would get SIGINT twice (once from the
/// server, once forwarded). In its own group it gets exactly the one passed
/// on. It is not put in a new session.
#[derive(Debug)]
pub struct TiedChild {
    child: Child,
}

impl TiedChild {
    /// Starts `cmd` tied to this process.
    ///
    /// Must be called on a thread that lives as long as this process (the
    /// main thread): on Linux the death signal fires when the spawning
    /// thread exits.
    /// The child is told this process's pid (`JPY_PARENT_PID`, as Jupyter
    /// does): ipykernel ends itself when that parent goes.
    pub fn spawn(cmd: &mut Command) -> std::io::Result<TiedChild> {
        cmd.process_group(0)
            .env("JPY_PARENT_PID", std::process::id().to_string());
        die_with_parent(cmd);
        Ok(TiedChild {
            child: cmd.spawn()?,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Passes `notice` on as its signal; a child already gone is not an error.
    pub fn deliver(&self, notice: Notice) {
        let signal = match notice {
            Notice::Interrupt => Signal::SIGINT,
            Notice::Terminate => Signal::SIGTERM,
            Notice::Hangup => Signal::SIGHUP,
            Notice::Quit => Signal::SIGQUIT,
        };
        let Ok(pid) = i32::try_from(self.child.id()) else {
            return;
        };
        if let Err(e) = kill(Pid::from_raw(pid), signal) {
            tracing::debug!(%e, ?signal, "signal to the child not delivered");
        }
    }

    /// What waits for the child's exit, on another thread.
    pub fn waiter(&self) -> std::io::Result<Waiter> {
        Ok(Waiter {
            pid: self.child.id(),
        })
    }
}

/// Waits for a [`TiedChild`] to exit.
#[derive(Debug)]
pub struct Waiter {
    pid: u32,
}

impl Waiter {
    /// Blocks until the child exits; its exit code as a shell reports it.
    pub fn wait(self) -> i32 {
        use nix::sys::wait::{waitpid, WaitStatus};
        let Ok(raw) = i32::try_from(self.pid) else {
            return 1;
        };
        loop {
            match waitpid(Pid::from_raw(raw), None) {
                Ok(WaitStatus::Exited(_, code)) => return code,
                Ok(WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
                Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return 1,
            }
        }
    }
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn die_with_parent(cmd: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and calls only
    // prctl(2), which is async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
        });
    }
}

/// macOS has no death signal. The kernel is told its parent's pid
/// (`JPY_PARENT_PID`, set by the proxy), and ipykernel's parent poller ends
/// it within a second of the proxy's death, as it does under `jupyter`.
#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut Command) {}

/// Linux: `SCHED_IDLE` for the calling thread (on Linux a thread is a task
/// of its own), so it runs on what the kernel and the frontends leave.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn background_thread() -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 is the calling thread; `param` outlives the call.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// macOS: the calling thread in the background band (lower CPU and I/O
/// priority: `PRIO_DARWIN_BG`).
#[cfg(target_os = "macos")]
#[allow(unsafe_code)]
pub fn background_thread() -> std::io::Result<()> {
    // SAFETY: plain setpriority(2) on the calling thread.
    let rc = unsafe { libc::setpriority(libc::PRIO_DARWIN_THREAD, 0, libc::PRIO_DARWIN_BG) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Other Unixes: the lowest niceness, where a thread can have its own.
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub fn background_thread() -> std::io::Result<()> {
    Ok(())
}

/// A command run to the end with its whole tree's resource use counted
/// (`monitor`): `getrusage(RUSAGE_CHILDREN)` before and after the wait, which
/// covers every descendant that was waited for.
#[derive(Debug)]
pub struct AccountedChild {
    child: Child,
    before: TreeUsage,
}

impl AccountedChild {
    pub fn spawn(cmd: &mut Command) -> std::io::Result<AccountedChild> {
        let before = children_usage()?;
        Ok(AccountedChild {
            child: cmd.spawn()?,
            before,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the command; its status and what its tree used.
    pub fn wait(mut self) -> std::io::Result<(ExitStatus, TreeUsage)> {
        let status = self.child.wait()?;
        let after = children_usage()?;
        Ok((
            status,
            TreeUsage {
                cpu_seconds: after.cpu_seconds - self.before.cpu_seconds,
                // The largest child so far: not a difference.
                peak_memory_bytes: after.peak_memory_bytes,
            },
        ))
    }
}

/// This process's waited-for children, together.
fn children_usage() -> std::io::Result<TreeUsage> {
    use nix::sys::resource::{getrusage, UsageWho};
    let u = getrusage(UsageWho::RUSAGE_CHILDREN)?;
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    // ru_maxrss is in KiB on Linux, in bytes on macOS.
    let unit = if cfg!(target_os = "macos") { 1 } else { 1024 };
    Ok(TreeUsage {
        cpu_seconds: secs(u.user_time()) + secs(u.system_time()),
        peak_memory_bytes: u64::try_from(u.max_rss()).unwrap_or(0) * unit,
    })
}

/// Puts a background helper (the exporter) in its own process group, so a
/// signal to the caller's group does not reach it.
pub fn detach(cmd: &mut Command) -> &mut Command {
    cmd.process_group(0)
}

/// Runs `cmd` in this process's place (`exec`: same pid, signals and exit
/// status); returns only on failure.
pub fn hand_over(cmd: &mut Command, arg0: &std::ffi::OsStr) -> std::io::Result<i32> {
    Err(cmd.arg0(arg0).exec())
}

/// The exit code a shell would report for `status` (128 + signal if killed).
pub fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

/// `rename(2)` over an existing file has no transient failure.
pub(crate) fn transient_replace_error(_e: &std::io::Error) -> bool {
    false
}

/// Whether this process runs as root (Chromium then needs `--no-sandbox`).
pub fn is_superuser() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The signals this process passes on, and the death of the process that
/// started it (a Jupyter server killed with SIGKILL), passed on as SIGTERM:
/// ipykernel polls its parent the same way, and the proxy, not the server,
/// is the kernel's parent.
#[derive(Debug)]
pub struct Notices {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
    quit: tokio::signal::unix::Signal,
    parent: Pid,
    parent_poll: Option<tokio::time::Interval>,
}

impl Notices {
    /// Installs the handlers (inside a tokio runtime); from now on these
    /// signals no longer end this process.
    pub fn new() -> std::io::Result<Notices> {
        Ok(Notices {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
            quit: signal(SignalKind::quit())?,
            parent: nix::unistd::getppid(),
            parent_poll: Some(tokio::time::interval(PARENT_POLL)),
        })
    }

    /// Only the interrupt and terminate signals, without the parent watch:
    /// for a command the user stops with Ctrl-C (`kernel attach`).
    pub fn stop_only() -> std::io::Result<Notices> {
        Ok(Notices {
            parent_poll: None,
            ..Notices::new()?
        })
    }

    /// Resolves once, when the parent has gone.
    async fn orphaned(poll: &mut Option<tokio::time::Interval>, parent: Pid) {
        let Some(interval) = poll else {
            return std::future::pending().await;
        };
        loop {
            interval.tick().await;
            if nix::unistd::getppid() != parent {
                *poll = None;
                tracing::warn!(%parent, "the process that started this one is gone");
                return;
            }
        }
    }

    /// The next notice to pass on.
    pub async fn next(&mut self) -> Option<Notice> {
        tokio::select! {
            Some(()) = self.interrupt.recv() => Some(Notice::Interrupt),
            Some(()) = self.terminate.recv() => Some(Notice::Terminate),
            Some(()) = self.hangup.recv() => Some(Notice::Hangup),
            Some(()) = self.quit.recv() => Some(Notice::Quit),
            () = Self::orphaned(&mut self.parent_poll, self.parent) => Some(Notice::Terminate),
            else => None,
        }
    }
}
