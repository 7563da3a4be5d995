//! GPUs, behind a trait: NVML is the real backend, tests use a fake.
//!
//! A device with a total-energy counter (Volta and newer) is measured by
//! counter deltas (`nvml-energy`); an older one by integrating power
//! readings over the measured intervals between them (`nvml-power`).
//!
//! The kernel's share of a device, best evidence first:
//! 1. `sm-activity`: the SM utilisation NVML samples per process
//!    (Maxwell and newer): the tree's part of all processes' activity in the
//!    window;
//! 2. `memory`: the GPU memory the tree's processes hold among all compute
//!    processes (by process count when NVML gives no memory figure);
//! 3. `unattributed`: NVML lists processes, none of them in our PID
//!    namespace (a container sees its own PIDs, NVML reports the host's),
//!    and the tree holds the device open: the share is unknown, so the
//!    kernel is charged 0 with an error band up to the device's energy.
//!
//! No NVML library, no GPU, or `VENTURALITICA_GPU=off`: the backend is
//! absent and reports have no GPU section.

use std::sync::OnceLock;

/// One process on a GPU: pid and used memory in bytes (`None` when NVML
/// cannot tell).
pub type GpuProcess = (u32, Option<u64>);

/// One per-process utilisation sample (NVML keeps a short history).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessActivity {
    pub pid: u32,
    /// When NVML took the sample, microseconds since the Unix epoch.
    pub timestamp_us: u64,
    /// Percent of the sample period the process had kernels on the SMs.
    pub sm_percent: u32,
}

/// What the meter needs from a GPU library.
pub trait GpuBackend: Send + Sync + std::fmt::Debug {
    fn device_count(&self) -> u32;
    fn name(&self, device: u32) -> String;
    /// Energy since the driver loaded, millijoules; `None` if unsupported.
    fn total_energy_mj(&self, device: u32) -> Option<u64>;
    /// Current draw, milliwatts.
    fn power_mw(&self, device: u32) -> Option<u32>;
    /// Compute processes on the device.
    fn processes(&self, device: u32) -> Vec<GpuProcess>;
    /// Percent of the last sample period with a kernel running on the device.
    fn utilization(&self, device: u32) -> Option<u32>;
    /// Per-process activity samples taken after `since_us` (Unix µs);
    /// `None` when the device cannot tell.
    fn process_activity(&self, device: u32, since_us: u64) -> Option<Vec<ProcessActivity>>;
    /// The device's minor number: it is `/dev/nvidia<minor>` (Linux only;
    /// other OSes have no such file, and no number).
    fn minor_number(&self, _device: u32) -> Option<u32> {
        None
    }
}

/// How the kernel's share of a device was found (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ShareBasis {
    SmActivity,
    Memory,
    /// NVML's PIDs are not in this PID namespace; the share is unknown.
    Unattributed,
    /// The tree has nothing on the device.
    None,
}

/// The tree's share of a device from the SM activity samples of the window:
/// `None` when no process was active.
pub fn activity_share(samples: &[ProcessActivity], tree: &[u32]) -> Option<f64> {
    let total: u64 = samples.iter().map(|s| u64::from(s.sm_percent)).sum();
    let mine: u64 = samples
        .iter()
        .filter(|s| tree.contains(&s.pid))
        .map(|s| u64::from(s.sm_percent))
        .sum();
    (total > 0).then(|| mine as f64 / total as f64)
}

/// The kernel's share of a device: the memory its processes hold among all
/// compute processes (by count when NVML reports no memory figures).
pub fn share(processes: &[GpuProcess], tree: &[u32]) -> f64 {
    let ours = |p: &&GpuProcess| tree.contains(&p.0);
    if processes.iter().all(|p| p.1.is_some()) {
        let total: u64 = processes.iter().filter_map(|p| p.1).sum();
        let mine: u64 = processes.iter().filter(ours).filter_map(|p| p.1).sum();
        if total > 0 {
            return mine as f64 / total as f64;
        }
    }
    let mine = processes.iter().filter(ours).count();
    if processes.is_empty() {
        0.0
    } else {
        mine as f64 / processes.len() as f64
    }
}

/// NVML, opened once.
#[derive(Debug)]
pub struct Nvml(nvml_wrapper::Nvml);

impl Nvml {
    /// Opens NVML, or says why not (logged at debug: no GPU is normal).
    pub fn open() -> Option<Nvml> {
        match nvml_wrapper::Nvml::init() {
            Ok(n) if n.device_count().unwrap_or(0) > 0 => Some(Nvml(n)),
            Ok(_) => {
                tracing::debug!("NVML: no GPU");
                None
            }
            Err(e) => {
                tracing::debug!(%e, "NVML not available");
                None
            }
        }
    }

    /// The process-wide NVML: opened on first use (it can take seconds).
    pub fn shared() -> Option<&'static Nvml> {
        static NVML: OnceLock<Option<Nvml>> = OnceLock::new();
        NVML.get_or_init(Nvml::open).as_ref()
    }
}

impl GpuBackend for Nvml {
    fn device_count(&self) -> u32 {
        self.0.device_count().unwrap_or(0)
    }

    fn name(&self, device: u32) -> String {
        self.0
            .device_by_index(device)
            .and_then(|d| d.name())
            .unwrap_or_else(|_| format!("GPU {device}"))
    }

    fn total_energy_mj(&self, device: u32) -> Option<u64> {
        self.0
            .device_by_index(device)
            .ok()?
            .total_energy_consumption()
            .ok()
    }

    fn power_mw(&self, device: u32) -> Option<u32> {
        self.0.device_by_index(device).ok()?.power_usage().ok()
    }

    fn utilization(&self, device: u32) -> Option<u32> {
        Some(
            self.0
                .device_by_index(device)
                .ok()?
                .utilization_rates()
                .ok()?
                .gpu,
        )
    }

    fn process_activity(&self, device: u32, since_us: u64) -> Option<Vec<ProcessActivity>> {
        let d = self.0.device_by_index(device).ok()?;
        match d.process_utilization_stats(since_us) {
            Ok(samples) => Some(
                samples
                    .into_iter()
                    .map(|s| ProcessActivity {
                        pid: s.pid,
                        timestamp_us: s.timestamp,
                        sm_percent: s.sm_util,
                    })
                    .collect(),
            ),
            // NVML answers "not found" when no process was active since then.
            Err(nvml_wrapper::error::NvmlError::NotFound) => Some(Vec::new()),
            Err(_) => None,
        }
    }

    // The /dev/nvidiaN device files are Linux's; elsewhere the trait's
    // default (none) stands.
    #[cfg(target_os = "linux")]
    fn minor_number(&self, device: u32) -> Option<u32> {
        self.0.device_by_index(device).ok()?.minor_number().ok()
    }

    fn processes(&self, device: u32) -> Vec<GpuProcess> {
        use nvml_wrapper::enums::device::UsedGpuMemory;
        let Ok(d) = self.0.device_by_index(device) else {
            return Vec::new();
        };
        d.running_compute_processes()
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                let mem = match p.used_gpu_memory {
                    UsedGpuMemory::Used(b) => Some(b),
                    UsedGpuMemory::Unavailable => None,
                };
                (p.pid, mem)
            })
            .collect()
    }
}

impl GpuBackend for &'static Nvml {
    fn device_count(&self) -> u32 {
        (*self).device_count()
    }
    fn name(&self, device: u32) -> String {
        (*self).name(device)
    }
    fn total_energy_mj(&self, device: u32) -> Option<u64> {
        (*self).total_energy_mj(device)
    }
    fn power_mw(&self, device: u32) -> Option<u32> {
        (*self).power_mw(device)
    }
    fn processes(&self, device: u32) -> Vec<GpuProcess> {
        (*self).processes(device)
    }
    fn utilization(&self, device: u32) -> Option<u32> {
        (*self).utilization(device)
    }
    fn process_activity(&self, device: u32, since_us: u64) -> Option<Vec<ProcessActivity>> {
        (*self).process_activity(device, since_us)
    }
    fn minor_number(&self, device: u32) -> Option<u32> {
        (*self).minor_number(device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_by_memory_then_by_count() {
        let procs = [(10, Some(3_000)), (11, Some(1_000)), (99, Some(4_000))];
        assert_eq!(share(&procs, &[10, 11]), 0.5);
        assert_eq!(share(&procs, &[42]), 0.0);
        let unknown = [(10, None), (99, Some(1))];
        assert_eq!(share(&unknown, &[10]), 0.5);
        assert_eq!(share(&[], &[10]), 0.0);
    }

    #[test]
    fn activity_share_is_the_trees_part_of_all_sm_activity() {
        let at = |pid, sm_percent| ProcessActivity {
            pid,
            timestamp_us: 0,
            sm_percent,
        };
        let samples = [at(10, 60), at(10, 20), at(99, 20)];
        assert_eq!(activity_share(&samples, &[10]), Some(0.8));
        assert_eq!(activity_share(&samples, &[42]), Some(0.0));
        assert_eq!(activity_share(&[at(10, 0)], &[10]), None);
        assert_eq!(activity_share(&[], &[10]), None);
    }
}
