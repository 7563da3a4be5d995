//! The operating-system services the agent needs, each one interface with a
//! module per OS (as tokio and mio keep theirs): shared code names these
//! items and never an OS.
//!
//! - [`TiedChild`]: a child process whose whole tree ends when this process
//!   ends, and the [`Notice`]s passed on to it (Unix: its own process group,
//!   signals, `PR_SET_PDEATHSIG` on Linux and the kernel's own parent poller
//!   on macOS; Windows: a Job Object with kill-on-close, Jupyter's interrupt
//!   event).
//! - [`Notices`]: what this process is told to pass on (Unix: SIGINT, SIGTERM,
//!   SIGHUP, SIGQUIT; Windows: Ctrl-C, Ctrl-Break and the interrupt event the
//!   Jupyter server hands its kernel), and the death of its own parent.
//! - [`AccountedChild`]: a command run to the end with its whole tree's CPU
//!   time and peak memory (Unix `getrusage(RUSAGE_CHILDREN)`; Windows a Job
//!   Object's accounting).
//! - [`private`]: files and directories only this user can read (Unix modes
//!   0600/0700; Windows an ACL naming only the user).
//! - [`replace`]: a file replaced by renaming a finished one over it
//!   (Windows' transient "access denied" while another rename is under way
//!   waited out, within a bound).
//! - [`hand_over`]: run another program in this one's place (Unix `exec`;
//!   Windows spawn, wait and pass the exit code on).
//! - [`background_thread`]: the calling thread yields the CPU to everything
//!   else (Linux `SCHED_IDLE`, macOS `PRIO_DARWIN_BG`, Windows background
//!   mode): the evidence writer, whose signing and fsync would otherwise
//!   compete with the kernel and the frontend for the next cell.
//!
//! What each OS provides, and what was run where, is in docs/platforms.md.

#[cfg(unix)]
#[path = "unix/mod.rs"]
mod imp;
#[cfg(windows)]
#[path = "windows/mod.rs"]
mod imp;

pub mod private;
mod replace;

pub use replace::replace;

pub use imp::{
    background_thread, detach, exit_code, hand_over, is_superuser, AccountedChild, Notices,
    TiedChild, Waiter,
};

#[cfg(windows)]
pub use imp::{job, parent_links, process_cpu_100ns};

/// What the proxy passes on to the kernel: the signals Jupyter sends on
/// Unix, the interrupt event and console controls on Windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Stop the running cell (SIGINT; the interrupt event).
    Interrupt,
    /// End (SIGTERM; Ctrl-Break, or the proxy's parent gone).
    Terminate,
    /// The terminal went away (SIGHUP; no Windows counterpart).
    Hangup,
    /// Quit with a core dump (SIGQUIT; no Windows counterpart).
    Quit,
}

/// What a process tree used, from the OS's own accounting.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TreeUsage {
    /// User plus system CPU seconds of every member.
    pub cpu_seconds: f64,
    /// The largest resident set of a member (Unix `ru_maxrss`), or the
    /// tree's peak committed memory (a Windows job), bytes.
    pub peak_memory_bytes: u64,
}
