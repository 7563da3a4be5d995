//! macOS: a process tree's CPU time, memory and (Apple Silicon) energy from
//! `proc_pid_rusage`, without root.
//!
//! - CPU time: `ri_user_time + ri_system_time` (the process's threads, live
//!   and exited) plus `ri_child_user_time + ri_child_system_time` (children
//!   it waited for), in Mach absolute time units, scaled to nanoseconds by
//!   `mach_timebase_info` (1/1 on Intel, 125/3 on Apple Silicon). Not
//!   quantised to clock ticks.
//! - Memory: `ri_resident_size` (what Linux calls RSS).
//! - Energy: on Apple Silicon `ri_energy_nj` (`RUSAGE_INFO_V6`, macOS 12+)
//!   is the energy the kernel attributes to the process's own threads, in
//!   nanojoules, from the SoC's per-cluster energy model: what Activity
//!   Monitor's energy column and `powermetrics`' per-process figures build
//!   on. It is read as *measured* CPU energy (`os-energy`). It has no
//!   counterpart for children already waited for, so a tree's figure covers
//!   its live members; the CPU time above still counts the reaped ones.
//!   Intel Macs report zero there, and the TDP model is used.
//! - The tree: `proc_listchildpids`.
//!
//! The calls are behind [`Darwin`], so the arithmetic is tested against
//! recorded values on every OS; only [`Libproc`] needs macOS.

use crate::process::{ProcessTree, TreeSample};

/// The fields of one `proc_pid_rusage` record this reader uses, as the
/// kernel gives them (Mach absolute time units, bytes, nanojoules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rusage {
    pub user_time: u64,
    pub system_time: u64,
    pub child_user_time: u64,
    pub child_system_time: u64,
    pub resident_size: u64,
    /// `ri_energy_nj`: `None` where the OS has no `RUSAGE_INFO_V6` or keeps
    /// no per-process energy (Intel).
    pub energy_nj: Option<u64>,
}

/// What the reader asks macOS.
pub trait Darwin: Send + Sync + std::fmt::Debug {
    fn rusage(&self, pid: u32) -> Option<Rusage>;
    fn children(&self, pid: u32) -> Vec<u32>;
    /// `mach_timebase_info`: nanoseconds = units × numer / denom.
    fn timebase(&self) -> (u32, u32);
    fn logical_cpus(&self) -> usize;
}

/// A process tree read through [`Darwin`].
#[derive(Debug)]
pub struct DarwinTree<D: Darwin> {
    os: D,
    ns_per_unit: f64,
}

impl<D: Darwin> DarwinTree<D> {
    pub fn new(os: D) -> DarwinTree<D> {
        let (numer, denom) = os.timebase();
        let ns_per_unit = if denom == 0 {
            1.0
        } else {
            f64::from(numer) / f64::from(denom)
        };
        DarwinTree { os, ns_per_unit }
    }

    fn seconds(&self, units: u64) -> f64 {
        units as f64 * self.ns_per_unit / 1e9
    }
}

#[cfg(target_os = "macos")]
impl DarwinTree<Libproc> {
    /// This Mac.
    pub fn system() -> DarwinTree<Libproc> {
        DarwinTree::new(Libproc)
    }
}

impl<D: Darwin> ProcessTree for DarwinTree<D> {
    fn tree(&self, pid: u32) -> Vec<u32> {
        let mut out = vec![pid];
        let mut i = 0;
        while i < out.len() {
            for child in self.os.children(out[i]) {
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
        let mut energy = Some(0.0);
        for r in pids.iter().filter_map(|&pid| self.os.rusage(pid)) {
            s.cpu_seconds +=
                self.seconds(r.user_time + r.system_time + r.child_user_time + r.child_system_time);
            s.rss_bytes += r.resident_size;
            s.processes += 1;
            energy = energy
                .zip(r.energy_nj)
                .map(|(sum, nj)| sum + nj as f64 / 1e9);
        }
        s.energy_j = energy.filter(|_| s.processes > 0);
        s
    }

    fn machine_busy_seconds(&self) -> Option<f64> {
        None // no machine-wide counter to share on macOS
    }

    fn logical_cpus(&self) -> usize {
        self.os.logical_cpus()
    }

    fn tick_seconds(&self) -> f64 {
        0.0
    }

    fn cpu_source(&self) -> &'static str {
        "proc_pid_rusage (Mach absolute time, via mach_timebase_info)"
    }

    fn exists(&self, pid: u32) -> bool {
        self.os.rusage(pid).is_some()
    }
}

/// The real calls (libc's bindings for libproc, mach2's for the timebase;
/// `RUSAGE_INFO_V6`'s layout is XNU's `sys/resource.h`, which libc stops at
/// V4).
#[cfg(target_os = "macos")]
#[derive(Debug, Clone, Copy)]
pub struct Libproc;

#[cfg(target_os = "macos")]
#[allow(unsafe_code)]
mod sys {
    use super::{Darwin, Libproc, Rusage};

    const RUSAGE_INFO_V4: i32 = 4;
    const RUSAGE_INFO_V6: i32 = 6;

    /// XNU `struct rusage_info_v6` (macOS 12+): V4's fields, then `ri_flags`
    /// (V5), then the P-core times and energies (V6).
    #[repr(C)]
    struct RusageInfoV6 {
        v4: libc::rusage_info_v4,
        ri_flags: u64,
        ri_user_ptime: u64,
        ri_system_ptime: u64,
        ri_pinstructions: u64,
        ri_pcycles: u64,
        ri_energy_nj: u64,
        ri_penergy_nj: u64,
        ri_secure_time_in_system: u64,
        ri_secure_ptime_in_system: u64,
        ri_neural_footprint: u64,
        ri_lifetime_max_neural_footprint: u64,
        ri_interval_max_neural_footprint: u64,
        ri_reserved: [u64; 9],
    }

    fn of_v4(r: &libc::rusage_info_v4, energy_nj: Option<u64>) -> Rusage {
        Rusage {
            user_time: r.ri_user_time,
            system_time: r.ri_system_time,
            child_user_time: r.ri_child_user_time,
            child_system_time: r.ri_child_system_time,
            resident_size: r.ri_resident_size,
            energy_nj,
        }
    }

    impl Darwin for Libproc {
        fn rusage(&self, pid: u32) -> Option<Rusage> {
            let pid = i32::try_from(pid).ok()?;
            let mut v6 = std::mem::MaybeUninit::<RusageInfoV6>::zeroed();
            // SAFETY: the buffer is a zeroed V6 record, the largest flavour
            // asked for; the kernel writes at most that flavour's size.
            let rc = unsafe { libc::proc_pid_rusage(pid, RUSAGE_INFO_V6, v6.as_mut_ptr().cast()) };
            if rc == 0 {
                // SAFETY: written by the kernel (all-zero bits are valid too).
                let v6 = unsafe { v6.assume_init() };
                // Intel Macs keep no per-process energy: 0 means "none".
                let energy = (cfg!(target_arch = "aarch64") && v6.ri_energy_nj > 0)
                    .then_some(v6.ri_energy_nj);
                return Some(of_v4(&v6.v4, energy));
            }
            // Before macOS 12: V4.
            let mut v4 = std::mem::MaybeUninit::<libc::rusage_info_v4>::zeroed();
            // SAFETY: as above, for the V4 record.
            let rc = unsafe { libc::proc_pid_rusage(pid, RUSAGE_INFO_V4, v4.as_mut_ptr().cast()) };
            // SAFETY: written by the kernel (all-zero bits are valid too).
            (rc == 0).then(|| of_v4(&unsafe { v4.assume_init() }, None))
        }

        fn children(&self, pid: u32) -> Vec<u32> {
            let Ok(pid) = i32::try_from(pid) else {
                return Vec::new();
            };
            let mut pids = vec![0 as libc::pid_t; 256];
            loop {
                let bytes = i32::try_from(pids.len() * std::mem::size_of::<libc::pid_t>())
                    .unwrap_or(i32::MAX);
                // SAFETY: the buffer holds `bytes` bytes of pid_t.
                let n = unsafe { libc::proc_listchildpids(pid, pids.as_mut_ptr().cast(), bytes) };
                let Ok(n) = usize::try_from(n) else {
                    return Vec::new();
                };
                // A full buffer may have been cut short: ask again, larger.
                if n < pids.len() {
                    return pids[..n]
                        .iter()
                        .filter_map(|&p| u32::try_from(p).ok())
                        .collect();
                }
                pids.resize(pids.len() * 4, 0);
            }
        }

        fn timebase(&self) -> (u32, u32) {
            let mut info = mach2::mach_time::mach_timebase_info { numer: 0, denom: 0 };
            // SAFETY: `info` outlives the call, which only writes it.
            let rc = unsafe { mach2::mach_time::mach_timebase_info(&mut info) };
            if rc == mach2::kern_return::KERN_SUCCESS {
                (info.numer, info.denom)
            } else {
                (1, 1)
            }
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

    /// Answers of the shape Apple Silicon gives (timebase 125/3, energy in
    /// nJ), with figures chosen to be checked by hand: a kernel 4001 with
    /// one child 4002. Not a recording: no Mac was at hand
    /// (docs/platforms.md).
    #[derive(Debug, Default)]
    struct Recorded {
        rusage: HashMap<u32, Rusage>,
        children: HashMap<u32, Vec<u32>>,
        timebase: (u32, u32),
    }

    impl Darwin for Recorded {
        fn rusage(&self, pid: u32) -> Option<Rusage> {
            self.rusage.get(&pid).copied()
        }
        fn children(&self, pid: u32) -> Vec<u32> {
            self.children.get(&pid).cloned().unwrap_or_default()
        }
        fn timebase(&self) -> (u32, u32) {
            self.timebase
        }
        fn logical_cpus(&self) -> usize {
            10
        }
    }

    fn apple_silicon(kernel_energy: Option<u64>) -> DarwinTree<Recorded> {
        let mut os = Recorded {
            timebase: (125, 3),
            ..Recorded::default()
        };
        // 24,000,000 units × 125/3 ns = 1 s of user time; 2,400,000 = 0.1 s.
        os.rusage.insert(
            4001,
            Rusage {
                user_time: 24_000_000,
                system_time: 2_400_000,
                child_user_time: 2_400_000,
                child_system_time: 0,
                resident_size: 300 << 20,
                energy_nj: kernel_energy,
            },
        );
        os.rusage.insert(
            4002,
            Rusage {
                user_time: 12_000_000,
                resident_size: 50 << 20,
                energy_nj: Some(250_000_000),
                ..Rusage::default()
            },
        );
        os.children.insert(4001, vec![4002]);
        os.children.insert(4002, vec![4001]); // a loop must not hang the walk
        DarwinTree::new(os)
    }

    #[test]
    fn mach_units_become_seconds_and_the_tree_sums() {
        let t = apple_silicon(Some(1_500_000_000));
        assert_eq!(t.tree(4001), vec![4001, 4002]);
        let s = t.sample(&t.tree(4001));
        // 1 + 0.1 + 0.1 (reaped child) + 0.5 (the child process).
        assert!((s.cpu_seconds - 1.7).abs() < 1e-9, "{}", s.cpu_seconds);
        assert_eq!(s.rss_bytes, 350 << 20);
        assert_eq!(s.processes, 2);
        assert_eq!(s.tick_seconds, 0.0);
        // 1.5 J + 0.25 J, from nanojoules.
        assert!((s.energy_j.expect("measured") - 1.75).abs() < 1e-12);
        assert!(t.exists(4002) && !t.exists(9));
    }

    #[test]
    fn energy_only_when_every_live_member_reports_it() {
        // An Intel Mac (timebase 1/1) reports none: the TDP model is used.
        let mut t = apple_silicon(None);
        assert_eq!(t.sample(&[4001, 4002]).energy_j, None);
        t.ns_per_unit = 1.0;
        let s = t.sample(&[4001]);
        assert!((s.cpu_seconds - 0.0288).abs() < 1e-12);
        // Nothing alive: no figure, not zero joules.
        assert_eq!(t.sample(&[9]).energy_j, None);
        assert_eq!(t.sample(&[9]).processes, 0);
    }
}
