//! Windows: a process tree's CPU time and memory.
//!
//! - CPU time: where the tree runs in a Job Object this agent made (the
//!   proxy's kernel, a `monitor`ed command: [`venturalitica_os::job`]), the
//!   job's accounting, which sums user and kernel time over every process
//!   that was ever in it, live or exited; else `GetProcessTimes` of each live
//!   member. Both are in 100 ns units, but Windows charges CPU time at the
//!   clock interrupt (15.625 ms by default), so each member's figure is
//!   quantised to that tick and the band says so.
//! - Memory: each live member's working set (`GetProcessMemoryInfo`), what
//!   Linux calls RSS.
//! - The tree: parent links from a Toolhelp snapshot. (Windows reuses pids
//!   and keeps a parent id after the parent exits, so a process whose
//!   parent's pid was reused can be counted in; inside a job the CPU time is
//!   the job's, so only memory can be affected.)
//!
//! The calls are behind [`Win32`], so the arithmetic is tested against
//! recorded values on every OS; only [`Kernel32`] needs Windows.

use crate::process::{ProcessTree, TreeSample};

/// The default clock interrupt period, at which Windows charges CPU time.
pub const TICK_S: f64 = 1.0 / 64.0;

/// What the reader asks Windows.
pub trait Win32: Send + Sync + std::fmt::Debug {
    /// The CPU time (100 ns units) of every process ever in the job made
    /// for the tree started as `root`; `None` when there is no such job.
    fn job_cpu(&self, root: u32) -> Option<u64>;
    /// A live process's user + kernel time (100 ns) and working set (bytes).
    fn process(&self, pid: u32) -> Option<(u64, u64)>;
    /// Every process's (pid, parent pid).
    fn parents(&self) -> Vec<(u32, u32)>;
    fn logical_cpus(&self) -> usize;
}

/// A process tree read through [`Win32`].
#[derive(Debug)]
pub struct Win32Tree<W: Win32> {
    os: W,
}

impl<W: Win32> Win32Tree<W> {
    pub fn new(os: W) -> Win32Tree<W> {
        Win32Tree { os }
    }
}

#[cfg(windows)]
impl Win32Tree<Kernel32> {
    /// This machine.
    pub fn system() -> Win32Tree<Kernel32> {
        Win32Tree::new(Kernel32)
    }
}

impl<W: Win32> ProcessTree for Win32Tree<W> {
    fn tree(&self, pid: u32) -> Vec<u32> {
        let links = self.os.parents();
        let mut out = vec![pid];
        let mut i = 0;
        while i < out.len() {
            let parent = out[i];
            for &(child, _) in links.iter().filter(|(c, p)| *p == parent && *c != parent) {
                if !out.contains(&child) {
                    out.push(child);
                }
            }
            i += 1;
        }
        out
    }

    fn sample(&self, pids: &[u32]) -> TreeSample {
        let mut s = TreeSample::default();
        let mut own_100ns = 0u64;
        for (cpu, working_set) in pids.iter().filter_map(|&pid| self.os.process(pid)) {
            own_100ns += cpu;
            s.rss_bytes += working_set;
            s.processes += 1;
        }
        // The job counts exited members too, so it is never less than the
        // live ones' sum where the OS keeps job times (wine keeps none).
        let job = pids.first().and_then(|&root| self.os.job_cpu(root));
        s.cpu_seconds = job.unwrap_or(0).max(own_100ns) as f64 / 1e7;
        // Every member's time is charged in ticks.
        s.tick_seconds = s.cpu_seconds;
        s.tick_processes = s.processes.max(usize::from(job.is_some()));
        s
    }

    fn machine_busy_seconds(&self) -> Option<f64> {
        None // no machine-wide energy counter is read yet (docs/platforms.md)
    }

    fn logical_cpus(&self) -> usize {
        self.os.logical_cpus()
    }

    fn tick_seconds(&self) -> f64 {
        TICK_S
    }

    fn cpu_source(&self) -> &'static str {
        "Job Object accounting, else GetProcessTimes (charged per 15.625 ms tick)"
    }

    fn exists(&self, pid: u32) -> bool {
        self.os.process(pid).is_some()
    }
}

/// The real calls.
#[cfg(windows)]
#[derive(Debug, Clone, Copy)]
pub struct Kernel32;

#[cfg(windows)]
#[allow(unsafe_code)]
mod sys {
    use windows_sys::Win32::System::ProcessStatus::{
        K32GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS,
    };
    use windows_sys::Win32::System::Threading::{OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION};

    use std::os::windows::io::{AsHandle, FromRawHandle, OwnedHandle};

    use super::{Kernel32, Win32};
    use venturalitica_os::job::{name_for, Job};
    use venturalitica_os::process_cpu_100ns;

    impl Win32 for Kernel32 {
        fn job_cpu(&self, root: u32) -> Option<u64> {
            Some(Job::open(&name_for(root))?.accounting().ok()?.cpu_100ns)
        }

        fn process(&self, pid: u32) -> Option<(u64, u64)> {
            // SAFETY: OpenProcess returns null on failure; the handle is
            // owned below and closed on every path.
            let handle = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
            if handle.is_null() {
                return None;
            }
            // SAFETY: a handle just opened, owned (and closed) by `owned` alone.
            let owned = unsafe { OwnedHandle::from_raw_handle(handle) };
            let cpu = process_cpu_100ns(owned.as_handle())?;
            // SAFETY: all-zero bits are a valid PROCESS_MEMORY_COUNTERS.
            let mut memory: PROCESS_MEMORY_COUNTERS = unsafe { std::mem::zeroed() };
            memory.cb = std::mem::size_of::<PROCESS_MEMORY_COUNTERS>() as u32;
            // SAFETY: the handle is open; `memory` outlives the call.
            let ok = unsafe { K32GetProcessMemoryInfo(handle, &mut memory, memory.cb) != 0 };
            Some((cpu, if ok { memory.WorkingSetSize as u64 } else { 0 }))
        }

        fn parents(&self) -> Vec<(u32, u32)> {
            venturalitica_os::parent_links()
        }

        fn logical_cpus(&self) -> usize {
            crate::process::available_cpus()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// A kernel 700 (its job has seen 3.2 s, a child that ran and exited
    /// included) with a live child 701, whose child 702 has exited and
    /// whose grandchild 42 is not readable.
    #[derive(Debug, Default)]
    struct Recorded {
        job: HashMap<u32, u64>,
        processes: HashMap<u32, (u64, u64)>,
    }

    impl Win32 for Recorded {
        fn job_cpu(&self, root: u32) -> Option<u64> {
            self.job.get(&root).copied()
        }
        fn process(&self, pid: u32) -> Option<(u64, u64)> {
            self.processes.get(&pid).copied()
        }
        fn parents(&self) -> Vec<(u32, u32)> {
            vec![(4, 0), (700, 4), (701, 700), (702, 701), (42, 702)]
        }
        fn logical_cpus(&self) -> usize {
            8
        }
    }

    fn kernel(job: bool) -> Win32Tree<Recorded> {
        let mut os = Recorded::default();
        if job {
            os.job.insert(700, 32_000_000);
        }
        os.processes.insert(700, (20_000_000, 200 << 20));
        os.processes.insert(701, (5_000_000, 40 << 20));
        Win32Tree::new(os)
    }

    #[test]
    fn the_jobs_accounting_counts_exited_members() {
        let t = kernel(true);
        assert_eq!(t.tree(700), vec![700, 701, 702, 42]);
        let s = t.sample(&[700, 701, 702]);
        assert!((s.cpu_seconds - 3.2).abs() < 1e-12);
        assert_eq!(s.rss_bytes, 240 << 20);
        assert_eq!(s.processes, 2);
        assert_eq!(s.energy_j, None);
        // All of it is charged in ticks: the meter's band covers it.
        assert_eq!(s.tick_seconds, s.cpu_seconds);
        assert_eq!(t.tick_seconds(), 0.015625);
    }

    #[test]
    fn without_a_job_the_live_members_are_summed() {
        let s = kernel(false).sample(&[700, 701]);
        assert!((s.cpu_seconds - 2.5).abs() < 1e-12);
        assert_eq!(s.tick_processes, 2);
        assert_eq!(kernel(false).sample(&[5]).processes, 0);
    }
}
