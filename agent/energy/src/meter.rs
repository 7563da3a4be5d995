//! Measuring windows: a cell, or a `monitor` run.
//!
//! Counters are read at the window's start and end; between them one
//! sampler thread (per meter) wakes 4 times a second to follow each open
//! window's memory (peak and mean RSS), newly started children, GPU power
//! for power-only devices, and which GPUs the tree uses. With no window open
//! it sleeps on a channel, so an idle kernel costs nothing; a window shorter
//! than a sampling period costs two `/proc` reads and no thread.
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
use std::sync::{Arc, Mutex, Weak};
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
    /// The last process tree seen, per root pid, and when.
    tree_cache: Mutex<Option<(u32, Instant, Vec<u32>)>>,
    /// The one sampler thread, started with the first window.
    sampler: Mutex<Option<mpsc::Sender<Weak<Mutex<Sampled>>>>>,
}

/// How long a process tree is reused between windows before it is walked
/// again (children that start and end inside a shorter window are still
/// counted, through their parent's `cutime`).
const TREE_FRESH_FOR: Duration = Duration::from_secs(1);

impl Meter {
    /// A meter for this machine: RAPL if readable, the TDP model otherwise,
    /// and NVML if present.
    pub fn new(config: EnergyConfig) -> Meter {
        let gpu = gpu::Nvml::shared().map(|n| Arc::new(n) as Arc<dyn GpuBackend>);
        Meter::with_parts(
            config,
            ProcFs::system(),
            gpu,
            std::path::Path::new("/proc/cpuinfo"),
        )
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
            tree_cache: Mutex::new(None),
            sampler: Mutex::new(None),
        }
    }

    pub fn config(&self) -> &EnergyConfig {
        &self.config
    }

    /// Whether CPU energy comes from RAPL (else the TDP model).
    pub fn uses_rapl(&self) -> bool {
        self.rapl.is_some()
    }

    /// The tree under `pid`, walked again when older than [`TREE_FRESH_FOR`].
    fn tree(&self, pid: u32) -> Vec<u32> {
        let Ok(mut cache) = self.tree_cache.lock() else {
            return self.procfs.tree(pid);
        };
        if let Some((p, at, pids)) = cache.as_ref() {
            if *p == pid && at.elapsed() < TREE_FRESH_FOR {
                return pids.clone();
            }
        }
        let pids = self.procfs.tree(pid);
        *cache = Some((pid, Instant::now(), pids.clone()));
        pids
    }

    /// Opens a window over `pid` and its descendants.
    pub fn start(self: &Arc<Self>, pid: u32) -> Window {
        let pids = self.tree(pid);
        let tree0 = self.procfs.sample(&pids);
        let gpu0 = self.gpu.as_ref().map(|g| {
            (0..g.device_count())
                .map(|d| g.total_energy_mj(d))
                .collect::<Vec<_>>()
        });
        let shared = Arc::new(Mutex::new(Sampled {
            pid,
            pids,
            rounds: 0,
            peak_rss: tree0.rss_bytes,
            rss_seconds: 0.0,
            last_rss: tree0.rss_bytes,
            last_at: Instant::now(),
            gpu_power_j: Vec::new(),
            gpu_share: Vec::new(),
        }));
        self.watch(Arc::downgrade(&shared));
        Window {
            meter: Arc::clone(self),
            started: Instant::now(),
            tree0,
            // Only the RAPL share needs the machine's busy time.
            machine0: self.rapl.as_ref().and(self.procfs.machine_busy_seconds()),
            rapl0: self.rapl.as_ref().and_then(Rapl::read),
            gpu0,
            shared,
        }
    }

    /// Hands a window to the sampler thread, starting it if needed.
    fn watch(self: &Arc<Self>, window: Weak<Mutex<Sampled>>) {
        let Ok(mut sampler) = self.sampler.lock() else {
            return;
        };
        if let Some(tx) = sampler.as_ref() {
            if tx.send(window.clone()).is_ok() {
                return;
            }
        }
        let (tx, rx) = mpsc::channel();
        // The thread holds the meter weakly: it ends when the meter goes.
        let meter = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("vl-energy-sampler".into())
            .spawn(move || sample_windows(&meter, &rx));
        if spawned.is_ok() && tx.send(window).is_ok() {
            *sampler = Some(tx);
        }
    }

    /// One sample of one window.
    fn sample(&self, s: &mut Sampled) {
        s.rounds += 1;
        if s.rounds % 4 == 1 {
            s.pids = self.tree(s.pid); // children started since
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

/// The sampler: sleeps until a window opens, then samples every open window
/// every [`SAMPLE_EVERY`] until all have closed.
fn sample_windows(meter: &Weak<Meter>, rx: &mpsc::Receiver<Weak<Mutex<Sampled>>>) {
    let mut open: Vec<Weak<Mutex<Sampled>>> = Vec::new();
    loop {
        let next = if open.is_empty() {
            rx.recv().map_err(|_| ())
        } else {
            match rx.recv_timeout(SAMPLE_EVERY) {
                Ok(w) => Ok(w),
                Err(RecvTimeoutError::Timeout) => {
                    let Some(meter) = meter.upgrade() else { return };
                    open.retain(|w| w.strong_count() > 0);
                    for w in open.iter().filter_map(Weak::upgrade) {
                        if let Ok(mut s) = w.lock() {
                            if s.last_at.elapsed() >= SAMPLE_EVERY {
                                meter.sample(&mut s);
                            }
                        }
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => Err(()),
            }
        };
        match next {
            Ok(w) => open.push(w),
            Err(()) => return,
        }
    }
}

/// What the sampler accumulates.
#[derive(Debug)]
struct Sampled {
    pid: u32,
    pids: Vec<u32>,
    rounds: u32,
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
    pub fn finish(self) -> EnergyReport {
        self.close(None)
    }

    /// For a process that has exited and been waited for (its `/proc`
    /// entries are gone): the caller gives the tree's CPU seconds and peak
    /// RSS from `getrusage(RUSAGE_CHILDREN)`.
    pub fn finish_exited(self, cpu_s: f64, peak_rss_bytes: u64) -> EnergyReport {
        self.close(Some((cpu_s, peak_rss_bytes)))
    }

    fn close(self, exited: Option<(f64, u64)>) -> EnergyReport {
        let m = &self.meter;
        let wall = self.started.elapsed().as_secs_f64();
        let (end, peak, mean, gpu_power_j, gpu_share) = {
            let mut s = match self.shared.lock() {
                Ok(s) => s,
                Err(poisoned) => poisoned.into_inner(),
            };
            let end = m.procfs.sample(&s.pids);
            s.observe(end.rss_bytes);
            let mean = if wall > 0.0 {
                s.rss_seconds / wall
            } else {
                s.last_rss as f64
            };
            (
                end,
                s.peak_rss,
                mean,
                s.gpu_power_j.clone(),
                s.gpu_share.clone(),
            )
        };
        let (cpu_s, peak) = match exited {
            Some((cpu_s, exited_peak)) => (cpu_s, peak.max(exited_peak)),
            // A member that exited unwaited between reads can make this dip.
            None => ((end.cpu_seconds - self.tree0.cpu_seconds).max(0.0), peak),
        };

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
                    Some(d) => Component {
                        joules: d * share,
                        method: "rapl",
                    },
                    None => ram_model(m, mean, wall),
                };
                (
                    Component {
                        joules: e.package_j * share,
                        method: "rapl",
                    },
                    ram,
                )
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
