//! GPUs, behind a trait: NVML is the real backend, tests use a fake.
//!
//! A device with a total-energy counter (Volta and newer) is measured by
//! counter deltas (`nvml-energy`); an older one by integrating power samples
//! (`nvml-power`). A device's energy is shared to the kernel by the GPU
//! memory its processes hold among all compute processes on that device
//! (the only per-process figure NVML gives on every GPU). No NVML library,
//! no GPU: the backend is absent and reports have no GPU section.

use std::sync::OnceLock;

/// One process on a GPU: pid and used memory in bytes (`None` when NVML
/// cannot tell).
pub type GpuProcess = (u32, Option<u64>);

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
}
