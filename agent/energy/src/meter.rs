//! Measuring windows: a cell, or a `monitor` run.
//!
//! Counters are read at the window's start and end; between them a sampler
//! thread wakes 4 times a second to follow the tree's memory (peak and mean
//! RSS), newly started children, GPU power for power-only devices, and which
//! GPUs the tree uses. Nothing runs between windows, so an idle kernel
//! costs nothing.
//!
//! Formulas (docs/energy.md):
//! - CPU with RAPL: package energy × (tree CPU time / machine busy CPU time);
//! - CPU without RAPL: TDP × tree CPU time / logical CPUs (`tdp-model`, as
//!   CodeCarbon's process mode);
//! - RAM: DRAM zone energy × the same CPU share with RAPL, else W/GB × mean
//!   RSS (GB) × wall seconds (`ram-model`);
//! - GPU: counter delta (or integrated power) × the tree's memory share;
//! - kWh = J / 3.6e6; CO2e (g) = kWh × grid gCO2e/kWh × PUE.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::{EnergyConfig, Origin, Setting};
use crate::cpu_model;
use crate::gpu::{self, GpuBackend};
use crate::procfs::{ProcFs, TreeSample};
use crate::rapl::{Rapl, Reading};

/// How often the sampler wakes during a window.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// The CPU's power figure for the TDP model, and where it came from.
#[derive(Debug, Clone, Serialize)]
pub struct Tdp {
    pub watts: f64,
    /// `env`, `pyproject`, `detected` (from the model table) or `default`.
    pub origin: Origin,
    /// The CPU model name read from the machine.
    pub model: Option<String>,
    /// The table entry it matched.
    pub matched: Option<String>,
}

/// Everything a window needs, set up once per process.
#[derive(Debug)]
pub struct Meter {
    config: EnergyConfig,
    procfs: ProcFs,
    rapl: Option<Rapl>,
    /// Why RAPL is not used, for the report.
    rapl_note: Option<String>,
    tdp: Tdp,
    cpus: usize,
    gpu: Option<Arc<dyn GpuBackend>>,
}

impl Meter {
    /// A meter for this machine: RAPL if readable, the TDP model otherwise,
    /// and NVML if present.
    pub fn new(config: EnergyConfig) -> Meter {
        let gpu = gpu::Nvml::shared().map(|n| Arc::new(n) as Arc<dyn GpuBackend>);
        Meter::with_parts(config, ProcFs::system(), gpu, std::path::Path::new("/proc/cpuinfo"))
    }

    /// A meter from explicit parts (tests pass fake trees and a fake GPU).
    pub fn with_parts(
        config: EnergyConfig,
        procfs: ProcFs,
        gpu: Option<Arc<dyn GpuBackend>>,
        cpuinfo: &std::path::Path,
    ) -> Meter {
        let (rapl, rapl_note) = match Rapl::discover(&config.powercap_root) {
            Ok(r) => (Some(r), None),
            Err(why) => (None, Some(why.to_string())),
        };
        let model = cpu_model::model_name(cpuinfo);
        let matched = model.as_deref().and_then(cpu_model::lookup);
        let tdp = match (&config.cpu_tdp_w, matched) {
            (Some(Setting { value, origin }), _) => Tdp {
                watts: *value,
                origin: origin.clone(),
                model: model.clone(),
                matched: None,
            },
            (None, Some((name, watts))) => Tdp {
                watts,
                origin: Origin::Detected,
                model: model.clone(),
                matched: Some(name.to_string()),
            },
            (None, None) => Tdp {
                watts: cpu_model::DEFAULT_TDP_W,
                origin: Origin::Default,
                model: model.clone(),
                matched: None,
            },
        };
        let cpus = procfs.logical_cpus();
        Meter {
            config,
            procfs,
            rapl,
            rapl_note,
            tdp,
            cpus,
            gpu,
        }
    }

    pub fn config(&self) -> &EnergyConfig {
        &self.config
    }

    /// Whether CPU energy comes from RAPL (else the TDP model).
    pub fn uses_rapl(&self) -> bool {
        self.rapl.is_some()
    }

    /// Opens a window over `pid` and its descendants.
    pub fn start(self: &Arc<Self>, pid: u32) -> Window {
        let pids = self.procfs.tree(pid);
        let tree0 = self.procfs.sample(&pids);
        let gpu0 = self.gpu.as_ref().map(|g| {
            (0..g.device_count())
                .map(|d| g.total_energy_mj(d))
                .collect::<Vec<_>>()
        });
        let shared = Arc::new(Mutex::new(Sampled {
            pids,
            peak_rss: tree0.rss_bytes,
            rss_seconds: 0.0,
            last_rss: tree0.rss_bytes,
            last_at: Instant::now(),
            gpu_power_j: Vec::new(),
            gpu_share: Vec::new(),
        }));
        let (stop, stopped) = mpsc::channel::<()>();
        let sampler = {
            let (meter, shared) = (Arc::clone(self), Arc::clone(&shared));
            std::thread::Builder::new()
                .name("vl-energy-sampler".into())
                .spawn(move || meter.sample_until(pid, &shared, &stopped))
                .ok()
        };
        Window {
            meter: Arc::clone(self),
            started: Instant::now(),
            tree0,
            machine0: self.procfs.machine_busy_seconds(),
            rapl0: self.rapl.as_ref().and_then(Rapl::read),
            gpu0,
            shared,
            stop: Some(stop),
            sampler,
        }
    }

    fn sample_until(&self, pid: u32, shared: &Mutex<Sampled>, stopped: &mpsc::Receiver<()>) {
        let mut round = 0u32;
        loop {
            match stopped.recv_timeout(SAMPLE_EVERY) {
                Err(RecvTimeoutError::Timeout) => {}
                _ => return,
            }
            round += 1;
            let Ok(mut s) = shared.lock() else { return };
            if round % 4 == 1 {
                s.pids = self.procfs.tree(pid); // children started since
            }
            let now = self.procfs.sample(&s.pids);
            s.observe(now.rss_bytes);
            if let Some(g) = &self.gpu {
                let n = g.device_count() as usize;
                s.gpu_power_j.resize(n, 0.0);
                s.gpu_share.resize(n, 0.0);
                for d in 0..n {
                    let device = d as u32;
                    let share = gpu::share(&g.processes(device), &s.pids);
                    if share > 0.0 {
                        s.gpu_share[d] = share;
                    }
                    if let Some(mw) = g.power_mw(device) {
                        s.gpu_power_j[d] += mw as f64 / 1000.0 * SAMPLE_EVERY.as_secs_f64();
                    }
                }
            }
        }
    }
}

/// What the sampler accumulates.
#[derive(Debug)]
struct Sampled {
    pids: Vec<u32>,
    peak_rss: u64,
    /// ∫ RSS dt, byte-seconds.
    rss_seconds: f64,
    last_rss: u64,
    last_at: Instant,
    /// ∫ power dt per device, J (for devices without an energy counter).
    gpu_power_j: Vec<f64>,
    /// The tree's latest non-zero share of each device.
    gpu_share: Vec<f64>,
}

impl Sampled {
    fn observe(&mut self, rss: u64) {
        let now = Instant::now();
        let dt = now.duration_since(self.last_at).as_secs_f64();
        self.rss_seconds += (self.last_rss + rss) as f64 / 2.0 * dt;
        self.last_rss = rss;
        self.last_at = now;
        self.peak_rss = self.peak_rss.max(rss);
    }
}

/// An open window; `finish` closes it.
#[derive(Debug)]
pub struct Window {
    meter: Arc<Meter>,
    started: Instant,
    tree0: TreeSample,
    machine0: Option<f64>,
    rapl0: Option<Reading>,
    gpu0: Option<Vec<Option<u64>>>,
    shared: Arc<Mutex<Sampled>>,
    stop: Option<mpsc::Sender<()>>,
    sampler: Option<JoinHandle<()>>,
}

/// One component's energy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Component {
    pub joules: f64,
    /// `rapl`, `tdp-model`, `ram-model`, `nvml-energy` or `nvml-power`.
    pub method: &'static str,
}

/// One GPU's part of a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuDevice {
    pub index: u32,
    pub name: String,
    /// The whole device's energy over the window.
    pub device_joules: f64,
    /// The kernel's share of it.
    pub share: f64,
    pub joules: f64,
    pub method: &'static str,
}

/// The energy and carbon of one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnergyReport {
    pub wall_s: f64,
    /// CPU seconds of the tree during the window.
    pub cpu_s: f64,
    pub cpu: Component,
    pub ram: Component,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu: Option<Component>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gpu_devices: Vec<GpuDevice>,
    pub total_j: f64,
    pub kwh: f64,
    pub co2e_g: f64,
    pub peak_rss_bytes: u64,
    pub mean_rss_bytes: u64,
    /// The figures the model used, with their origins.
    pub basis: serde_json::Value,
}

impl Window {
    /// Reads the counters again and computes the report.
    pub fn finish(mut self) -> EnergyReport {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.sampler.take() {
            let _ = t.join();
        }
        let m = &self.meter;
        let wall = self.started.elapsed().as_secs_f64();
        let (pids, peak, mean, gpu_power_j, gpu_share) = {
            let mut s = match self.shared.lock() {
                Ok(s) => s,
                Err(poisoned) => poisoned.into_inner(),
            };
            let end = m.procfs.sample(&s.pids);
            s.observe(end.rss_bytes);
            let mean = if wall > 0.0 { s.rss_seconds / wall } else { s.last_rss as f64 };
            (s.pids.clone(), s.peak_rss, mean, s.gpu_power_j.clone(), s.gpu_share.clone())
        };
        let tree1 = m.procfs.sample(&pids);
        // A member that exited unwaited between reads can make this dip.
        let cpu_s = (tree1.cpu_seconds - self.tree0.cpu_seconds).max(0.0);

        let rapl = match (&m.rapl, &self.rapl0) {
            (Some(r), Some(r0)) => r.read().map(|r1| r.energy(r0, &r1)),
            _ => None,
        };
        let machine = match (self.machine0, m.procfs.machine_busy_seconds()) {
            (Some(a), Some(b)) if b > a => Some(b - a),
            _ => None,
        };
        let (cpu, ram) = match (rapl, machine) {
            (Some(e), Some(busy)) => {
                let share = (cpu_s / busy).min(1.0);
                let ram = match e.dram_j {
                    Some(d) => Component { joules: d * share, method: "rapl" },
                    None => ram_model(m, mean, wall),
                };
                (Component { joules: e.package_j * share, method: "rapl" }, ram)
            }
            _ => (
                Component {
                    joules: m.tdp.watts * cpu_s / m.cpus as f64,
                    method: "tdp-model",
                },
                ram_model(m, mean, wall),
            ),
        };

        let mut gpu_devices = Vec::new();
        if let (Some(g), Some(gpu0)) = (&m.gpu, &self.gpu0) {
            for (d, e0) in gpu0.iter().enumerate() {
                let device = d as u32;
                let share = gpu_share.get(d).copied().unwrap_or(0.0);
                let (device_joules, method) = match (e0, g.total_energy_mj(device)) {
                    (Some(a), Some(b)) => (b.saturating_sub(*a) as f64 / 1000.0, "nvml-energy"),
                    _ => (gpu_power_j.get(d).copied().unwrap_or(0.0), "nvml-power"),
                };
                gpu_devices.push(GpuDevice {
                    index: device,
                    name: g.name(device),
                    device_joules,
                    share,
                    joules: device_joules * share,
                    method,
                });
            }
        }
        let gpu = (!gpu_devices.is_empty()).then(|| Component {
            joules: gpu_devices.iter().map(|d| d.joules).sum(),
            method: if gpu_devices.iter().all(|d| d.method == "nvml-energy") {
                "nvml-energy"
            } else {
                "nvml-power"
            },
        });

        let total_j = cpu.joules + ram.joules + gpu.as_ref().map_or(0.0, |g| g.joules);
        let kwh = total_j / 3.6e6;
        let c = &m.config;
        let co2e_g = kwh * c.grid.value.g_per_kwh * c.pue.value;
        let basis = serde_json::json!({
            "grid": {
                "code": c.grid.value.code,
                "g_per_kwh": c.grid.value.g_per_kwh,
                "source": c.grid.value.source,
                "origin": c.grid.origin,
            },
            "pue": c.pue,
            "cpu_tdp": (!m.uses_rapl()).then_some(&m.tdp),
            "logical_cpus": m.cpus,
            "ram_w_per_gb": c.ram_w_per_gb,
            "rapl": m.rapl_note.as_ref().map_or_else(
                || serde_json::json!({"zones": m.rapl.as_ref().map(Rapl::zone_names)}),
                |why| serde_json::json!({"unavailable": why}),
            ),
        });
        EnergyReport {
            wall_s: wall,
            cpu_s,
            cpu,
            ram,
            gpu,
            gpu_devices,
            total_j,
            kwh,
            co2e_g,
            peak_rss_bytes: peak,
            mean_rss_bytes: mean as u64,
            basis,
        }
    }
}

fn ram_model(m: &Meter, mean_rss: f64, wall: f64) -> Component {
    Component {
        joules: m.config.ram_w_per_gb.value * mean_rss / 1e9 * wall,
        method: "ram-model",
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        // A window dropped without `finish` (kernel died) still stops its sampler.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
