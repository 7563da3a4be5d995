//! Linux: the real `/proc`, with this machine's tick rate and page size, and
//! each process's own CPU time from its kernel CPU clock.

use crate::procfs::ProcFs;

/// CPU seconds of `pid`'s own threads (live and exited) from its
/// per-process CPU clock (`clock_getcpuclockid` + `clock_gettime`, no
/// permission needed in our PID namespace); `None` when the process is gone
/// or not ours to see.
pub fn process_cpu_clock(pid: u32) -> Option<f64> {
    use nix::time::{clock_getcpuclockid, clock_gettime};
    let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).ok()?);
    let t = clock_gettime(clock_getcpuclockid(pid).ok()?).ok()?;
    Some(t.tv_sec() as f64 + t.tv_nsec() as f64 / 1e9)
}

impl ProcFs {
    /// The real `/proc`, with this machine's tick rate and page size, and
    /// CPU time from the per-process CPU clocks.
    pub fn system() -> ProcFs {
        use nix::unistd::{sysconf, SysconfVar};
        let ticks = sysconf(SysconfVar::CLK_TCK).ok().flatten().unwrap_or(100);
        let page = sysconf(SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .unwrap_or(4096);
        ProcFs::new("/proc", ticks as f64, u64::try_from(page).unwrap_or(4096))
            .with_clock(process_cpu_clock)
    }
}
