//! CPU time, memory and, where the OS keeps it, energy of a process tree:
//! one interface, [`ProcessTree`], and one reader per OS:
//!
//! - Linux: [`crate::procfs`] (`/proc` and the per-process CPU clocks);
//! - macOS: [`crate::darwin`] (`proc_pid_rusage`, and the energy the OS
//!   attributes to each process on Apple Silicon);
//! - Windows: [`crate::win32`] (a Job Object's accounting, `GetProcessTimes`,
//!   `GetProcessMemoryInfo`).
//!
//! Each reader's OS calls sit behind a small trait of its own, so the
//! arithmetic is tested on every OS against recorded values.

use std::fmt::Debug;

/// The tree's totals at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TreeSample {
    /// CPU seconds used so far by the tree (live and reaped members).
    pub cpu_seconds: f64,
    /// The part of `cpu_seconds` read in coarse units (clock ticks), per
    /// process; with `tick_processes` it bounds the quantisation error.
    pub tick_seconds: f64,
    /// How many processes contributed tick-quantised time.
    pub tick_processes: usize,
    /// Resident memory of the live members, bytes.
    pub rss_bytes: u64,
    pub processes: usize,
    /// The energy the OS itself attributes to the live members so far,
    /// joules, where it keeps such a figure (Apple Silicon), else `None`.
    pub energy_j: Option<f64>,
}

/// A process tree as one OS shows it.
pub trait ProcessTree: Send + Sync + Debug {
    /// `pid` and its descendants, `pid` first.
    fn tree(&self, pid: u32) -> Vec<u32>;
    /// Totals over `pids` (processes that vanished count as nothing).
    fn sample(&self, pids: &[u32]) -> TreeSample;
    /// CPU seconds the whole machine spent busy, where the OS says (the
    /// share of a machine-wide energy counter needs it).
    fn machine_busy_seconds(&self) -> Option<f64>;
    /// Logical CPUs of the machine.
    fn logical_cpus(&self) -> usize;
    /// Seconds per coarse unit of CPU time (a clock tick), for error bands.
    fn tick_seconds(&self) -> f64;
    /// Where the CPU time comes from, for the report's basis.
    fn cpu_source(&self) -> &'static str;
    /// Whether `pid` is a process this reader can see.
    fn exists(&self, pid: u32) -> bool;
    /// Whether any of `pids` has the device file `path` open (Linux's
    /// `/dev/nvidiaN`; other OSes have no such files).
    fn holds_open(&self, _pids: &[u32], _path: &str) -> bool {
        false
    }
}

/// This machine's reader.
pub fn system() -> Box<dyn ProcessTree> {
    #[cfg(target_os = "linux")]
    return Box::new(crate::procfs::ProcFs::system());
    #[cfg(target_os = "macos")]
    return Box::new(crate::darwin::DarwinTree::system());
    #[cfg(windows)]
    return Box::new(crate::win32::Win32Tree::system());
}

/// `std::thread::available_parallelism`, at least 1 (what macOS and
/// Windows readers count CPUs by).
pub fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}
