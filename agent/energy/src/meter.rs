//! Measuring windows: a cell, or a `monitor` run.
//!
//! Counters are read at the window's start and end; between them one
//! sampler thread (per meter) wakes 4 times a second to follow each open
//! window's memory (peak and mean RSS), newly started children, GPU power
//! and which GPUs the tree uses. With no window open it sleeps on a
//! channel, so an idle kernel costs nothing; a window shorter than a
//! sampling period costs two `/proc` reads (and two NVML reads) and no
//! thread.
//!
//! Formulas (docs/energy.md):
//! - CPU with RAPL: package energy × (tree CPU time / machine busy CPU time);
//! - CPU without RAPL: TDP × tree CPU time / logical CPUs (`tdp-model`, as
//!   CodeCarbon's process mode);
//! - RAM: DRAM zone energy × the same CPU share with RAPL, else W/GB × mean
//!   RSS (GB) × wall seconds (`ram-model`);
//! - GPU: counter delta (or power integrated over measured intervals) × the
//!   tree's share ([`crate::gpu`]);
//! - kWh = J / 3.6e6; CO2e (g) = kWh × grid gCO2e/kWh × PUE;
//! - every component carries an error band, the total their root sum of
//!   squares ([`crate::uncertainty`]).

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::{EnergyConfig, Origin, Setting};
use crate::cpu_model;
use crate::gpu::{self, GpuBackend};
use crate::gpu_window::{self, Activity, GpuDevice, GpuTrack};
use crate::process::{self, ProcessTree, TreeSample};
use crate::rapl::{Rapl, Reading};
use crate::uncertainty::{self, Banded, METHOD_BANDS};

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
    processes: Box<dyn ProcessTree>,
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
    /// The last report's basis and what it depended on: the same for
    /// nearly every window, and built on the reply's way otherwise.
    basis_cache: Mutex<Option<(BasisKey, serde_json::Value)>>,
}

/// What a window's basis depends on beyond the meter's settings.
#[derive(Debug, Clone, PartialEq)]
struct BasisKey {
    methods: Vec<&'static str>,
    cpu_time: CpuTime,
}

/// How long a process tree is reused between windows before it is walked
/// again (children that start and end inside a shorter window are still
/// counted, through their parent's `cutime`).
const TREE_FRESH_FOR: Duration = Duration::from_secs(1);

impl Meter {
    /// A meter for this machine: RAPL if readable, the TDP model otherwise,
    /// and NVML if present and not turned off.
    pub fn new(config: EnergyConfig) -> Meter {
        let gpu = config
            .gpu
            .then(gpu::Nvml::shared)
            .flatten()
            .map(|n| Arc::new(n) as Arc<dyn GpuBackend>);
        // /proc/cpuinfo is Linux's; elsewhere the model is not read and the
        // configured or default TDP applies (where the TDP model is used).
        Meter::with_parts(
            config,
            process::system(),
            gpu,
            std::path::Path::new("/proc/cpuinfo"),
        )
    }

    /// A meter from explicit parts (tests pass fake trees and a fake GPU).
    pub fn with_parts(
        config: EnergyConfig,
        processes: Box<dyn ProcessTree>,
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
        let cpus = processes.logical_cpus();
        Meter {
            config,
            processes,
            rapl,
            rapl_note,
            tdp,
            cpus,
            gpu,
            tree_cache: Mutex::new(None),
            sampler: Mutex::new(None),
            basis_cache: Mutex::new(None),
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
            return self.processes.tree(pid);
        };
        if let Some((p, at, pids)) = cache.as_ref() {
            if *p == pid && at.elapsed() < TREE_FRESH_FOR {
                return pids.clone();
            }
        }
        let pids = self.processes.tree(pid);
        *cache = Some((pid, Instant::now(), pids.clone()));
        pids
    }

    /// Opens a window over `pid` and its descendants.
    pub fn start(self: &Arc<Self>, pid: u32) -> Window {
        self.start_since(pid, Instant::now())
    }

    /// Opens a window whose wall time runs from `since`: for a command
    /// started just before (`monitor`), whose CPU time counts from its
    /// creation, so the wall time must too (process creation can take tens
    /// of milliseconds, under wine more).
    pub fn start_since(self: &Arc<Self>, pid: u32, since: Instant) -> Window {
        let pids = self.tree(pid);
        let tree0 = self.processes.sample(&pids);
        let gpu = self
            .gpu
            .as_ref()
            .map(|g| GpuTrack::start(g.as_ref(), self.processes.as_ref(), &pids));
        let shared = Arc::new(Mutex::new(Sampled {
            pid,
            pids,
            rounds: 0,
            peak_rss: tree0.rss_bytes,
            rss_seconds: 0.0,
            last_rss: tree0.rss_bytes,
            last_at: Instant::now(),
            gpu,
        }));
        self.watch(Arc::downgrade(&shared));
        Window {
            meter: Arc::clone(self),
            started: since,
            started_at: std::time::SystemTime::now() - since.elapsed(),
            tree0,
            // Only the RAPL share needs the machine's busy time.
            machine0: self
                .rapl
                .as_ref()
                .and(self.processes.machine_busy_seconds()),
            rapl0: self.rapl.as_ref().and_then(Rapl::read),
            shared,
        }
    }

    /// A report's `basis`: the settings and sources its figures rest on.
    fn basis(&self, key: BasisKey) -> serde_json::Value {
        let mut cache = self.basis_cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((cached, basis)) = cache.as_ref() {
            if *cached == key {
                return basis.clone();
            }
        }
        let c = &self.config;
        let basis = serde_json::json!({
            "grid": {
                "code": c.grid.value.code,
                "g_per_kwh": c.grid.value.g_per_kwh,
                "source": c.grid.value.source,
                "origin": c.grid.origin,
            },
            "pue": c.pue,
            "cpu_tdp": (key.methods.first() == Some(&"tdp-model")).then_some(&self.tdp),
            "logical_cpus": self.cpus,
            "ram_w_per_gb": c.ram_w_per_gb,
            "rapl": self.rapl_note.as_ref().map_or_else(
                || serde_json::json!({"zones": self.rapl.as_ref().map(Rapl::zone_names)}),
                |why| serde_json::json!({"unavailable": why}),
            ),
            "cpu_time": key.cpu_time,
            "bands": METHOD_BANDS.iter().filter(|b| key.methods.contains(&b.method)).collect::<Vec<_>>(),
            "gpu_wait_ms": (self.gpu.is_some() && !c.gpu_wait.is_zero())
                .then_some(c.gpu_wait.as_millis()),
        });
        let mut basis = basis;
        if let (Some(series), Some(map)) = (&c.grid_series, basis.as_object_mut()) {
            map.insert(
                "grid_series".into(),
                serde_json::json!({
                    "file": series.value.path,
                    "sha256": series.value.sha256,
                    "column": series.value.column,
                    "step_s": series.value.step_s,
                    "zone": series.value.zone,
                    "source": series.value.source,
                    "origin": series.origin,
                }),
            );
        }
        *cache = Some((key, basis.clone()));
        basis
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
        let now = self.processes.sample(&s.pids);
        s.observe(now.rss_bytes);
        if let (Some(g), Some(track)) = (&self.gpu, s.gpu.as_mut()) {
            track.observe(g.as_ref(), self.processes.as_ref(), &s.pids);
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
    /// The GPUs, when there are any.
    gpu: Option<GpuTrack>,
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
    /// When it started on the wall clock (for the hourly grid intensity).
    started_at: std::time::SystemTime,
    tree0: TreeSample,
    machine0: Option<f64>,
    rapl0: Option<Reading>,
    shared: Arc<Mutex<Sampled>>,
}

/// One component's energy, with its error band.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Component {
    pub joules: f64,
    /// `rapl`, `os-energy`, `tdp-model`, `ram-model`, `nvml-energy` or
    /// `nvml-power`.
    pub method: &'static str,
    /// The truth lies within `[low_j, high_j]` (docs/energy.md).
    pub low_j: f64,
    pub high_j: f64,
    /// The GPU only: whether the kernel's share was work or held memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity: Option<Activity>,
}

impl Component {
    fn new(method: &'static str, band: Banded) -> Component {
        Component {
            joules: band.joules,
            method,
            low_j: band.low_j,
            high_j: band.high_j,
            activity: None,
        }
    }

    fn band(&self) -> Banded {
        Banded {
            joules: self.joules,
            low_j: self.low_j,
            high_j: self.high_j,
        }
    }
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
    /// The total's band: the components' in quadrature.
    pub total_low_j: f64,
    pub total_high_j: f64,
    pub kwh: f64,
    pub co2e_g: f64,
    /// The CO2e of the band's ends (the grid's own uncertainty not included).
    pub co2e_low_g: f64,
    pub co2e_high_g: f64,
    /// What a reader should know about these figures (a window shorter than
    /// a counter's update period, a share that cannot be attributed, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub peak_rss_bytes: u64,
    pub mean_rss_bytes: u64,
    /// The figures the model used, with their origins.
    pub basis: serde_json::Value,
    /// With an hourly intensity series: the file (its SHA-256), the rows the
    /// window overlapped, the seconds it had no value for, and the
    /// time-weighted intensity the CO2e used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grid_hourly: Option<serde_json::Value>,
}

impl Window {
    /// Reads the counters again and computes the report.
    pub fn finish(self) -> EnergyReport {
        self.close(None)
    }

    /// For a process that has exited and been waited for (its `/proc`
    /// entries are gone): the caller gives the tree's CPU seconds and peak
    /// memory from the OS's accounting (`venturalitica_os::AccountedChild`).
    pub fn finish_exited(self, cpu_s: f64, peak_rss_bytes: u64) -> EnergyReport {
        self.close(Some((cpu_s, peak_rss_bytes)))
    }

    fn close(self, exited: Option<(f64, u64)>) -> EnergyReport {
        let m = &self.meter;
        let lock = || match self.shared.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(g) = m.gpu.as_ref().filter(|_| !m.config.gpu_wait.is_zero()) {
            // Not under the lock: the sampler keeps sampling meanwhile.
            let devices = lock().gpu.as_ref().map(GpuTrack::devices_in_use);
            gpu_window::wait_idle(g.as_ref(), &devices.unwrap_or_default(), m.config.gpu_wait);
        }
        let mut s = lock();
        let wall = self.started.elapsed().as_secs_f64();
        let end = m.processes.sample(&s.pids);
        s.observe(end.rss_bytes);
        let mean = if wall > 0.0 {
            s.rss_seconds / wall
        } else {
            s.last_rss as f64
        };
        let mut notes = Vec::new();
        let (cpu_s, peak, cpu_time) = match exited {
            // getrusage reports microseconds; a Windows job 100 ns units.
            Some((cpu_s, exited_peak)) => (cpu_s, s.peak_rss.max(exited_peak), CpuTime::Rusage),
            None => {
                // A member that exited unwaited between reads can make this dip.
                let cpu_s = (end.cpu_seconds - self.tree0.cpu_seconds).max(0.0);
                let quantum = if end.tick_seconds == self.tree0.tick_seconds {
                    0.0
                } else {
                    2.0 * m.processes.tick_seconds()
                        * end.tick_processes.max(self.tree0.tick_processes) as f64
                };
                (
                    cpu_s,
                    s.peak_rss,
                    CpuTime::Proc(m.processes.cpu_source(), quantum),
                )
            }
        };
        let quantum_s = cpu_time.quantum_s();
        if quantum_s > 0.0 {
            notes.push(format!(
                "part of the CPU time is read in clock ticks (children that ended and were waited for): ±{:.0} ms",
                quantum_s * 1000.0
            ));
        }

        let rapl = match (&m.rapl, &self.rapl0) {
            (Some(r), Some(r0)) => r.read().map(|r1| r.energy(r0, &r1)),
            _ => None,
        };
        // Read only where the start was (RAPL): /proc/stat costs a pass over
        // every CPU, on the reply's path.
        let machine = match self
            .machine0
            .map(|a| (a, m.processes.machine_busy_seconds()))
        {
            Some((a, Some(b))) if b > a => Some(b - a),
            _ => None,
        };
        // The energy the OS attributes to the tree's live members (Apple
        // Silicon), where it was readable at both ends.
        let os_energy = match (exited, self.tree0.energy_j, end.energy_j) {
            (None, Some(a), Some(b)) => Some((b - a).max(0.0)),
            _ => None,
        };
        let (cpu, ram) = match (os_energy, rapl, machine) {
            (Some(joules), _, _) => {
                let cpu = Banded::of("os-energy", joules, 0.0);
                (Component::new("os-energy", cpu), ram_model(m, mean, wall))
            }
            (None, Some(e), Some(busy)) => {
                let share = (cpu_s / busy).min(1.0);
                let per_cpu_s = e.package_j / busy;
                if wall < uncertainty::update_period_s("rapl") {
                    notes.push("the window is shorter than RAPL's update period (1 ms)".into());
                }
                let ram = match e.dram_j {
                    Some(d) => Component::new("rapl", Banded::of("rapl", d * share, 0.0)),
                    None => ram_model(m, mean, wall),
                };
                let cpu_j = e.package_j * share;
                let cpu = Banded::of("rapl", cpu_j, per_cpu_s * quantum_s);
                (Component::new("rapl", cpu), ram)
            }
            _ => {
                let per_cpu_s = m.tdp.watts / m.cpus as f64;
                let cpu = Banded::of("tdp-model", per_cpu_s * cpu_s, per_cpu_s * quantum_s);
                (Component::new("tdp-model", cpu), ram_model(m, mean, wall))
            }
        };

        let gpu_devices: Vec<GpuDevice> = match (&m.gpu, s.gpu.take()) {
            (Some(g), Some(track)) => {
                track.finish(g.as_ref(), m.processes.as_ref(), &s.pids, wall, &mut notes)
            }
            _ => Vec::new(),
        };
        drop(s);
        let gpu = gpu_component(&gpu_devices);

        let parts: Vec<Banded> = [Some(&cpu), Some(&ram), gpu.as_ref()]
            .into_iter()
            .flatten()
            .map(Component::band)
            .collect();
        let total = Banded::combine(&parts);
        let c = &m.config;
        let (g_per_kwh, grid_hourly) = self.grid_intensity(wall, &mut notes);
        let g_per_j = g_per_kwh * c.pue.value / 3.6e6;
        let methods: Vec<&'static str> = [Some(&cpu), Some(&ram), gpu.as_ref()]
            .into_iter()
            .flatten()
            .map(|c| c.method)
            .collect();
        let basis = m.basis(BasisKey { methods, cpu_time });
        EnergyReport {
            wall_s: wall,
            cpu_s,
            cpu,
            ram,
            gpu,
            gpu_devices,
            total_j: total.joules,
            total_low_j: total.low_j,
            total_high_j: total.high_j,
            kwh: total.joules / 3.6e6,
            co2e_g: total.joules * g_per_j,
            co2e_low_g: total.low_j * g_per_j,
            co2e_high_g: total.high_j * g_per_j,
            notes,
            peak_rss_bytes: peak,
            mean_rss_bytes: mean as u64,
            basis,
            grid_hourly,
        }
    }

    /// The intensity over the window: the hourly series where it has
    /// values (time-weighted), the yearly figure in its gaps, said in a note;
    /// the yearly figure alone without a series.
    fn grid_intensity(
        &self,
        wall: f64,
        notes: &mut Vec<String>,
    ) -> (f64, Option<serde_json::Value>) {
        let c = &self.meter.config;
        let yearly = c.grid.value.g_per_kwh;
        let Some(series) = &c.grid_series else {
            return (yearly, None);
        };
        let start = self
            .started_at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let end = start + (wall * 1000.0).round() as i64;
        let over = series.value.over(start, end, yearly);
        if over.gap_s > 0.0 || over.rows.is_empty() {
            notes.push(format!(
                "the grid intensity series {} has no value for {:.3} s of this window: the yearly figure ({}, {yearly} g/kWh) was used there",
                series.value.path, over.gap_s, c.grid.value.code
            ));
        }
        let used = serde_json::json!({
            "file": series.value.path,
            "sha256": series.value.sha256,
            "g_per_kwh": over.g_per_kwh,
            "rows": over.rows,
            "gap_s": over.gap_s,
            "fallback": {"code": c.grid.value.code, "g_per_kwh": yearly},
        });
        (over.g_per_kwh, Some(used))
    }
}

/// Where a window's CPU time came from, and its resolution.
#[derive(Debug, Clone, Copy, PartialEq)]
enum CpuTime {
    /// The OS's process tree reader (its source named); the seconds read
    /// in ticks bound the error.
    Proc(&'static str, f64),
    /// `getrusage` of the exited, waited-for command.
    Rusage,
}

impl CpuTime {
    fn quantum_s(self) -> f64 {
        match self {
            CpuTime::Proc(_, q) => q,
            CpuTime::Rusage => 0.0,
        }
    }
}

impl Serialize for CpuTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let source = match self {
            CpuTime::Proc(source, _) => source,
            CpuTime::Rusage => {
                "the OS's accounting of the exited command (getrusage; a Windows job)"
            }
        };
        serde_json::json!({"source": source, "quantum_s": self.quantum_s()}).serialize(s)
    }
}

/// The devices' sum; its band adds theirs in quadrature.
fn gpu_component(devices: &[GpuDevice]) -> Option<Component> {
    if devices.is_empty() {
        return None;
    }
    let bands: Vec<Banded> = devices
        .iter()
        .map(|d| Banded {
            joules: d.joules,
            low_j: d.low_j,
            high_j: d.high_j,
        })
        .collect();
    let method = if devices.iter().all(|d| d.method == "nvml-energy") {
        "nvml-energy"
    } else {
        "nvml-power"
    };
    let activity = [Activity::Active, Activity::Idle]
        .into_iter()
        .find(|a| devices.iter().any(|d| d.activity == *a))
        .unwrap_or(Activity::None);
    Some(Component {
        activity: Some(activity),
        ..Component::new(method, Banded::combine(&bands))
    })
}

fn ram_model(m: &Meter, mean_rss: f64, wall: f64) -> Component {
    let joules = m.config.ram_w_per_gb.value * mean_rss / 1e9 * wall;
    Component::new("ram-model", Banded::of("ram-model", joules, 0.0))
}
