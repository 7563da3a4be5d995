//! CPU time and resident memory of a process tree, read from `/proc`.
//!
//! CPU time per process has two parts:
//! - the process's own threads, live and exited: from the kernel's
//!   per-process CPU clock (`clock_getcpuclockid` + `clock_gettime`), in
//!   nanoseconds, with no permission needed for processes in our PID
//!   namespace. Where that clock cannot be read (a fake tree in tests, a
//!   process gone), `utime + stime` of `/proc/<pid>/stat`, in clock ticks;
//! - children that finished and were waited for: `cutime + cstime` of the
//!   same stat line. Linux keeps them in nanoseconds but shows them only in
//!   clock ticks, so this part is quantised; the sample says how much of
//!   its total came from ticks, and the meter turns that into an error band.
//!
//! The root is configurable so tests can use a fake tree; reading one needs
//! no OS call, so the fake-tree tests run on every OS. The real `/proc`,
//! with the CPU clocks, is [`ProcFs::system`] (Linux only, `crate::linux`).

use std::path::{Path, PathBuf};

use crate::process::ProcessTree;
pub use crate::process::TreeSample;

/// How a process's own CPU time is read.
#[derive(Debug, Clone, Copy)]
pub enum CpuClock {
    /// The kernel's per-process CPU clock, nanoseconds (the real `/proc`).
    Posix(fn(u32) -> Option<f64>),
    /// `utime + stime` from the stat line, clock ticks (fake trees).
    Ticks,
}

/// Reads a proc filesystem.
#[derive(Debug, Clone)]
pub struct ProcFs {
    root: PathBuf,
    ticks_per_second: f64,
    page_size: u64,
    clock: CpuClock,
}

/// Per-process figures from one stat line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcStat {
    pub ppid: u32,
    /// `utime + stime`: the process's own threads.
    pub own_ticks: u64,
    /// `cutime + cstime`: children it waited for.
    pub children_ticks: u64,
    pub rss_pages: u64,
}

/// Parses `/proc/<pid>/stat`; the command name may hold spaces and ')'.
pub fn parse_stat(line: &str) -> Option<ProcStat> {
    let rest = &line[line.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    // f[0] is field 3 (state): utime is field 14, so f[11].
    Some(ProcStat {
        ppid: u32::try_from(num(1)?).ok()?,
        own_ticks: num(11)? + num(12)?,
        children_ticks: num(13)? + num(14)?,
        rss_pages: num(21)?,
    })
}

impl ProcFs {
    /// A proc tree at `root` read from its stat lines alone (CPU time in
    /// ticks): for fake trees.
    pub fn new(root: impl Into<PathBuf>, ticks_per_second: f64, page_size: u64) -> ProcFs {
        ProcFs {
            root: root.into(),
            ticks_per_second,
            page_size,
            clock: CpuClock::Ticks,
        }
    }

    /// The same tree with each process's own CPU time read by `clock`
    /// (nanoseconds) instead of its stat line's ticks.
    pub fn with_clock(self, clock: fn(u32) -> Option<f64>) -> ProcFs {
        ProcFs {
            clock: CpuClock::Posix(clock),
            ..self
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn clock(&self) -> CpuClock {
        self.clock
    }

    /// Seconds per clock tick.
    pub fn tick_seconds(&self) -> f64 {
        1.0 / self.ticks_per_second
    }

    fn stat(&self, pid: u32) -> Option<ProcStat> {
        let text = std::fs::read_to_string(self.root.join(pid.to_string()).join("stat")).ok()?;
        parse_stat(&text)
    }

    /// Whether `pid` is a process in this proc tree (this PID namespace).
    pub fn exists(&self, pid: u32) -> bool {
        self.root.join(pid.to_string()).exists()
    }

    /// Whether any of `pids` has `path` open (its `fd/*` links).
    pub fn holds_open(&self, pids: &[u32], path: &str) -> bool {
        pids.iter().any(|pid| {
            std::fs::read_dir(self.root.join(pid.to_string()).join("fd"))
                .into_iter()
                .flatten()
                .flatten()
                .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == path))
        })
    }

    /// `pid` and its descendants, from `task/*/children`.
    pub fn tree(&self, pid: u32) -> Vec<u32> {
        let mut out = vec![pid];
        let mut i = 0;
        while i < out.len() {
            let tasks = self.root.join(out[i].to_string()).join("task");
            if let Ok(entries) = std::fs::read_dir(tasks) {
                for e in entries.flatten() {
                    let Ok(children) = std::fs::read_to_string(e.path().join("children")) else {
                        continue;
                    };
                    for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                        if !out.contains(&child) {
                            out.push(child);
                        }
                    }
                }
            }
            i += 1;
        }
        out
    }

    /// Totals over `pids` (processes that vanished count as nothing).
    pub fn sample(&self, pids: &[u32]) -> TreeSample {
        let mut s = TreeSample::default();
        for pid in pids {
            let Some(stat) = self.stat(*pid) else {
                continue;
            };
            let own = match self.clock {
                CpuClock::Posix(read) => read(*pid),
                CpuClock::Ticks => None,
            };
            let ticks = stat.children_ticks + own.map_or(stat.own_ticks, |_| 0);
            let tick_seconds = ticks as f64 / self.ticks_per_second;
            s.cpu_seconds += own.unwrap_or(0.0) + tick_seconds;
            s.tick_seconds += tick_seconds;
            s.tick_processes += usize::from(ticks > 0 || own.is_none());
            s.rss_bytes += stat.rss_pages * self.page_size;
            s.processes += 1;
        }
        s
    }

    /// CPU seconds the whole machine spent busy (all CPUs: total minus idle
    /// and iowait), from the first line of `/proc/stat`.
    pub fn machine_busy_seconds(&self) -> Option<f64> {
        let text = std::fs::read_to_string(self.root.join("stat")).ok()?;
        let line = text.lines().find(|l| l.starts_with("cpu "))?;
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal (guest is inside user).
        let total: u64 = v.iter().take(8).sum();
        let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
        Some((total - idle) as f64 / self.ticks_per_second)
    }

    /// Logical CPUs, from the `cpuN` lines of `/proc/stat`.
    pub fn logical_cpus(&self) -> usize {
        std::fs::read_to_string(self.root.join("stat"))
            .map(|t| {
                t.lines()
                    .filter(|l| {
                        l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit)
                    })
                    .count()
            })
            .unwrap_or(0)
            .max(1)
    }
}

impl ProcessTree for ProcFs {
    fn tree(&self, pid: u32) -> Vec<u32> {
        ProcFs::tree(self, pid)
    }

    fn sample(&self, pids: &[u32]) -> TreeSample {
        ProcFs::sample(self, pids)
    }

    fn machine_busy_seconds(&self) -> Option<f64> {
        ProcFs::machine_busy_seconds(self)
    }

    fn logical_cpus(&self) -> usize {
        ProcFs::logical_cpus(self)
    }

    fn tick_seconds(&self) -> f64 {
        ProcFs::tick_seconds(self)
    }

    fn cpu_source(&self) -> &'static str {
        match self.clock {
            CpuClock::Posix(_) => "per-process CPU clocks (ns), reaped children in clock ticks",
            CpuClock::Ticks => "/proc/<pid>/stat (clock ticks)",
        }
    }

    fn exists(&self, pid: u32) -> bool {
        ProcFs::exists(self, pid)
    }

    fn holds_open(&self, pids: &[u32], path: &str) -> bool {
        ProcFs::holds_open(self, pids, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_a_tricky_command_name() {
        // Fields 14-17 (utime stime cutime cstime) = 100 50 7 3, rss = 2000 pages.
        let line = "42 (we ird) name)) S 1 42 42 0 -1 4194560 500 0 0 0 100 50 7 3 20 0 3 0 123 456789 2000 18446744073709551615";
        let s = parse_stat(line).expect("parses");
        assert_eq!(
            s,
            ProcStat {
                ppid: 1,
                own_ticks: 150,
                children_ticks: 10,
                rss_pages: 2000
            }
        );
        assert!(parse_stat("garbage").is_none());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_the_real_proc_for_this_process() {
        let fs = ProcFs::system();
        let me = std::process::id();
        let s = fs.sample(&fs.tree(me));
        assert!(s.processes >= 1 && s.rss_bytes > 0);
        assert!(fs.machine_busy_seconds().is_some_and(|b| b > 0.0));
        // The CPUs this process may run on are among the machine's.
        let usable = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert!(
            fs.logical_cpus() >= usable,
            "{} < {usable}",
            fs.logical_cpus()
        );
    }

    #[test]
    fn logical_cpus_are_the_cpun_lines_of_stat_and_one_without_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = ProcFs::new(dir.path(), 100.0, 4096);
        assert_eq!(fs.logical_cpus(), 1, "no /proc/stat: one, as documented");
        std::fs::write(
            dir.path().join("stat"),
            "cpu  10 0 5 100 0 0 0 0 0 0\ncpu0 5 0 2 50 0 0 0 0 0 0\ncpu1 5 0 3 50 0 0 0 0 0 0\n\
             cpu7 1 0 0 1 0 0 0 0 0 0\nintr 12\ncpufreq 3\n",
        )
        .expect("write stat");
        assert_eq!(fs.logical_cpus(), 3);
    }
}
