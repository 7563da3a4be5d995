//! CPU time and resident memory of a process tree, read from `/proc`.
//!
//! The root is configurable so tests can use a fake tree. CPU time per
//! process is `utime + stime + cutime + cstime` (field 14–17 of
//! `/proc/<pid>/stat`): children that finished and were waited for are
//! counted through their parent, so nothing a cell started is lost.

use std::path::{Path, PathBuf};

/// Reads a proc filesystem.
#[derive(Debug, Clone)]
pub struct ProcFs {
    root: PathBuf,
    ticks_per_second: f64,
    page_size: u64,
}

/// The tree's totals at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TreeSample {
    /// CPU seconds used so far by the tree (live and reaped members).
    pub cpu_seconds: f64,
    /// Resident memory of the live members, bytes.
    pub rss_bytes: u64,
    pub processes: usize,
}

/// Per-process figures from one stat line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcStat {
    pub ppid: u32,
    pub cpu_ticks: u64,
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
        cpu_ticks: num(11)? + num(12)? + num(13)? + num(14)?,
        rss_pages: num(21)?,
    })
}

impl ProcFs {
    /// The real `/proc`, with this machine's tick rate and page size.
    pub fn system() -> ProcFs {
        use nix::unistd::{sysconf, SysconfVar};
        let ticks = sysconf(SysconfVar::CLK_TCK).ok().flatten().unwrap_or(100);
        let page = sysconf(SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .unwrap_or(4096);
        ProcFs::new("/proc", ticks as f64, u64::try_from(page).unwrap_or(4096))
    }

    pub fn new(root: impl Into<PathBuf>, ticks_per_second: f64, page_size: u64) -> ProcFs {
        ProcFs {
            root: root.into(),
            ticks_per_second,
            page_size,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn stat(&self, pid: u32) -> Option<ProcStat> {
        let text = std::fs::read_to_string(self.root.join(pid.to_string()).join("stat")).ok()?;
        parse_stat(&text)
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
        for stat in pids.iter().filter_map(|p| self.stat(*p)) {
            s.cpu_seconds += stat.cpu_ticks as f64 / self.ticks_per_second;
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
                cpu_ticks: 160,
                rss_pages: 2000
            }
        );
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn reads_the_real_proc_for_this_process() {
        let fs = ProcFs::system();
        let me = std::process::id();
        let s = fs.sample(&fs.tree(me));
        assert!(s.processes >= 1 && s.rss_bytes > 0);
        assert!(fs.machine_busy_seconds().is_some_and(|b| b > 0.0));
        assert!(fs.logical_cpus() >= 1);
    }
}
