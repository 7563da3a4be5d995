//! One window's view of the GPUs: the devices' energy over the window and
//! the tree's share of each (the rules are in [`crate::gpu`]).
//!
//! Everything is read at the window's start, by the sampler during it, and
//! again at its end, so a window shorter than a sampling period still gets
//! a share, and power is integrated over the intervals actually measured.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::gpu::{self, GpuBackend, ShareBasis};
use crate::process::ProcessTree;
use crate::uncertainty::{self, Banded};

/// What the tree was doing on a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Activity {
    /// Kernels ran for the tree (or, without per-process figures, the
    /// device was busy while the tree held memory on it).
    Active,
    /// The tree held memory on an idle device: it is charged the idle
    /// draw of what it holds, and no work is claimed.
    Idle,
    /// Nothing of the tree's on the device.
    None,
}

/// One GPU's part of a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuDevice {
    pub index: u32,
    pub name: String,
    /// The whole device's energy over the window.
    pub device_joules: f64,
    /// The kernel's share of it, and how that was found.
    pub share: f64,
    pub share_basis: ShareBasis,
    pub activity: Activity,
    /// The highest device utilisation read in the window, percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utilization_max: Option<u32>,
    pub joules: f64,
    pub low_j: f64,
    pub high_j: f64,
    pub method: &'static str,
}

/// Per device, what the window has seen so far.
#[derive(Debug, Clone, Default)]
struct DeviceTrack {
    energy0_mj: Option<u64>,
    /// The last power reading, W, and when.
    last_power: Option<(Instant, f64)>,
    /// ∫ power dt over the measured intervals, J.
    power_j: f64,
    /// The tree's latest non-zero memory (or count) share.
    memory_share: f64,
    utilization_max: Option<u32>,
    /// NVML listed processes, none of them in our PID namespace.
    foreign_pids: bool,
}

/// The GPUs over one window.
#[derive(Debug)]
pub struct GpuTrack {
    started_us: u64,
    devices: Vec<DeviceTrack>,
}

fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

impl GpuTrack {
    /// Reads the counters at the window's start.
    pub fn start(g: &dyn GpuBackend, procfs: &dyn ProcessTree, pids: &[u32]) -> GpuTrack {
        let mut track = GpuTrack {
            started_us: unix_us(),
            devices: (0..g.device_count())
                .map(|d| DeviceTrack {
                    energy0_mj: g.total_energy_mj(d),
                    ..DeviceTrack::default()
                })
                .collect(),
        };
        track.observe(g, procfs, pids);
        track
    }

    /// One reading of power, processes and utilisation on every device.
    pub fn observe(&mut self, g: &dyn GpuBackend, procfs: &dyn ProcessTree, pids: &[u32]) {
        let now = Instant::now();
        for (d, t) in self.devices.iter_mut().enumerate() {
            let device = d as u32;
            let processes = g.processes(device);
            let share = gpu::share(&processes, pids);
            if share > 0.0 {
                t.memory_share = share;
            }
            t.foreign_pids |=
                !processes.is_empty() && processes.iter().all(|(pid, _)| !procfs.exists(*pid));
            if let Some(u) = g.utilization(device) {
                t.utilization_max = Some(t.utilization_max.unwrap_or(0).max(u));
            }
            if let Some(mw) = g.power_mw(device) {
                let watts = f64::from(mw) / 1000.0;
                if let Some((at, last)) = t.last_power {
                    t.power_j += (last + watts) / 2.0 * now.duration_since(at).as_secs_f64();
                }
                t.last_power = Some((now, watts));
            }
        }
    }

    /// The devices the tree has something on.
    pub fn devices_in_use(&self) -> Vec<u32> {
        (0u32..)
            .zip(&self.devices)
            .filter(|(_, t)| t.memory_share > 0.0)
            .map(|(d, _)| d)
            .collect()
    }

    /// The devices' energy and the tree's share, read once more at the end.
    pub fn finish(
        mut self,
        g: &dyn GpuBackend,
        procfs: &dyn ProcessTree,
        pids: &[u32],
        wall_s: f64,
        notes: &mut Vec<String>,
    ) -> Vec<GpuDevice> {
        self.observe(g, procfs, pids);
        let mut out = Vec::new();
        for (d, t) in self.devices.into_iter().enumerate() {
            let device = d as u32;
            let (device_joules, method) = match (t.energy0_mj, g.total_energy_mj(device)) {
                (Some(a), Some(b)) => (b.saturating_sub(a) as f64 / 1000.0, "nvml-energy"),
                _ => (t.power_j, "nvml-power"),
            };
            let activity_share = g
                .process_activity(device, self.started_us)
                .and_then(|samples| gpu::activity_share(&samples, pids));
            let holds_device = || {
                g.minor_number(device)
                    .is_some_and(|minor| procfs.holds_open(pids, &format!("/dev/nvidia{minor}")))
            };
            let (share, basis, activity) = match activity_share {
                Some(s) if s > 0.0 => (s, ShareBasis::SmActivity, Activity::Active),
                Some(_) if t.memory_share > 0.0 => (0.0, ShareBasis::SmActivity, Activity::Idle),
                _ if t.memory_share > 0.0 => {
                    let busy = t.utilization_max.unwrap_or(0) > 0;
                    let activity = if busy {
                        Activity::Active
                    } else {
                        Activity::Idle
                    };
                    (t.memory_share, ShareBasis::Memory, activity)
                }
                _ if t.foreign_pids && holds_device() => {
                    notes.push(format!(
                        "GPU {device}: NVML reports process ids from another PID namespace (a container?): the kernel's share is unknown, so it is charged 0 J with a band up to the device's {device_joules:.3} J"
                    ));
                    (0.0, ShareBasis::Unattributed, Activity::Active)
                }
                _ => (0.0, ShareBasis::None, Activity::None),
            };
            let period = uncertainty::update_period_s(method);
            if wall_s < period && share > 0.0 {
                notes.push(format!(
                    "GPU {device}: the window ({:.0} ms) is shorter than the {method} update period ({:.0} ms)",
                    wall_s * 1000.0,
                    period * 1000.0
                ));
            }
            let mean_w = if wall_s > 0.0 {
                device_joules / wall_s
            } else {
                0.0
            };
            let mut band = Banded::of(method, device_joules * share, mean_w * period * share);
            if basis == ShareBasis::Unattributed {
                band.high_j = Banded::of(method, device_joules, mean_w * period).high_j;
            }
            out.push(GpuDevice {
                index: device,
                name: g.name(device),
                device_joules,
                share,
                share_basis: basis,
                activity,
                utilization_max: t.utilization_max,
                joules: band.joules,
                low_j: band.low_j,
                high_j: band.high_j,
                method,
            });
        }
        out
    }
}

/// Waits, up to `limit`, until every one of `devices` reads 0 % utilisation:
/// work launched asynchronously then ends inside the window instead of
/// being billed to the next one. Utilisation is a mean over NVML's last
/// sample period (1/6 s to 1 s), so the wait can overrun the work by up to
/// that much; the overrun is billed as the device's draw.
pub fn wait_idle(g: &dyn GpuBackend, devices: &[u32], limit: Duration) {
    let deadline = Instant::now() + limit;
    let busy = || {
        devices
            .iter()
            .any(|d| g.utilization(*d).is_some_and(|u| u > 0))
    };
    while !devices.is_empty() && busy() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}
