//! The energy readers against fake sysfs and proc trees and a fake GPU.
//! This machine has no RAPL and no GPU: these trees are how the real reading
//! code is exercised here.

#![allow(clippy::unwrap_used)] // a panic is the failure message in a test

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use venturalitica_energy::config::{EnergyConfig, Origin, Setting};
use venturalitica_energy::darwin::{Darwin, DarwinTree, Rusage};
use venturalitica_energy::gpu::{GpuBackend, GpuProcess, ProcessActivity, ShareBasis};
use venturalitica_energy::gpu_window::Activity;
use venturalitica_energy::meter::Meter;
use venturalitica_energy::procfs::ProcFs;
use venturalitica_energy::rapl::{Rapl, Unavailable};
use venturalitica_energy::win32::{Win32, Win32Tree};

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn zone(root: &Path, dir: &str, name: &str, uj: u64, max: u64) {
    write(&root.join(dir).join("name"), &format!("{name}\n"));
    write(&root.join(dir).join("energy_uj"), &format!("{uj}\n"));
    write(
        &root.join(dir).join("max_energy_range_uj"),
        &format!("{max}\n"),
    );
}

fn set_uj(root: &Path, dir: &str, uj: u64) {
    write(&root.join(dir).join("energy_uj"), &format!("{uj}\n"));
}

#[test]
fn rapl_counts_advancing_and_wrapping_counters() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    zone(root, "intel-rapl:0", "package-0", 9_999_000, 10_000_000);
    zone(root, "intel-rapl:0:0", "core", 5, 10_000_000);
    zone(root, "intel-rapl:0:1", "dram", 100, 10_000_000);
    let rapl = Rapl::discover(root).unwrap();
    assert_eq!(rapl.zone_names(), vec!["package-0", "intel-rapl:0/dram"]);
    let before = rapl.read().unwrap();
    set_uj(root, "intel-rapl:0", 1_000); // wrapped: 1,000 µJ to the top, 1,000 after
    set_uj(root, "intel-rapl:0:1", 2_500_100);
    let after = rapl.read().unwrap();
    let e = rapl.energy(&before, &after);
    assert!((e.package_j - 0.002).abs() < 1e-12, "{e:?}");
    assert_eq!(e.dram_j, Some(2.5));
}

#[test]
fn rapl_counts_a_counter_seen_twice_once() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    // Two dies and the MMIO interface exposing the same package counter.
    zone(root, "intel-rapl:0", "package-0", 0, 1 << 32);
    zone(root, "intel-rapl:1", "package-0", 0, 1 << 32);
    zone(root, "intel-rapl-mmio:0", "package-0", 0, 1 << 32);
    zone(root, "intel-rapl:2", "package-1", 0, 1 << 32);
    let rapl = Rapl::discover(root).unwrap();
    assert_eq!(rapl.zone_names(), vec!["package-0", "package-1"]);
    let before = rapl.read().unwrap();
    for dir in ["intel-rapl:0", "intel-rapl:1", "intel-rapl-mmio:0"] {
        set_uj(root, dir, 1_000_000);
    }
    set_uj(root, "intel-rapl:2", 3_000_000);
    let e = rapl.energy(&before, &rapl.read().unwrap());
    assert_eq!(e.package_j, 4.0);
}

#[test]
fn rapl_missing_or_unreadable_is_unavailable_not_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    assert_eq!(
        Rapl::discover(&missing).unwrap_err(),
        Unavailable::NoPowercap(missing.clone())
    );
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    assert_eq!(
        Rapl::discover(&empty).unwrap_err(),
        Unavailable::NoZones(empty.clone())
    );
    // Tests run as root, where chmod cannot make a file unreadable: a
    // directory in the counter's place fails to read the same way.
    let locked = tmp.path().join("locked");
    write(&locked.join("intel-rapl:0/name"), "package-0\n");
    std::fs::create_dir_all(locked.join("intel-rapl:0/energy_uj")).unwrap();
    assert_eq!(
        Rapl::discover(&locked).unwrap_err(),
        Unavailable::Unreadable(locked.join("intel-rapl:0/energy_uj"))
    );
    // And a zone without a name file is skipped.
    write(&locked.join("intel-rapl:9/energy_uj"), "1\n");
}

/// A fake /proc: one kernel (pid 100) with a child (pid 101), 2 CPUs, 100 Hz.
struct FakeProc {
    root: PathBuf,
}

impl FakeProc {
    fn new(dir: &Path) -> FakeProc {
        let p = FakeProc {
            root: dir.join("proc"),
        };
        write(&p.root.join("100/task/100/children"), "101 ");
        write(&p.root.join("101/task/101/children"), "");
        p.set(100, 0, 25_000); // 100 MB of 4 KiB pages... roughly
        p.set(101, 0, 0);
        p.machine(0, 0);
        p
    }

    fn set(&self, pid: u32, ticks: u64, rss_pages: u64) {
        // utime carries all the ticks; stime cutime cstime 0.
        let line = format!(
            "{pid} (python3) S 1 {pid} {pid} 0 -1 0 0 0 0 0 {ticks} 0 0 0 20 0 1 0 0 0 {rss_pages} 0"
        );
        write(&self.root.join(format!("{pid}/stat")), &line);
    }

    fn machine(&self, busy_ticks: u64, idle_ticks: u64) {
        write(
            &self.root.join("stat"),
            &format!(
                "cpu  {busy_ticks} 0 0 {idle_ticks} 0 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\ncpu1 0 0 0 0 0 0 0 0 0 0\n"
            ),
        );
    }

    fn procfs(&self) -> ProcFs {
        ProcFs::new(&self.root, 100.0, 4096)
    }
}

fn config(powercap: &Path) -> EnergyConfig {
    EnergyConfig {
        powercap_root: powercap.to_path_buf(),
        cpu_tdp_w: Some(Setting {
            value: 100.0,
            origin: Origin::Env,
        }),
        ..EnergyConfig::default()
    }
}

#[test]
fn tdp_model_charges_tdp_times_cpu_time_over_cpus() {
    let tmp = tempfile::tempdir().unwrap();
    let proc = FakeProc::new(tmp.path());
    let meter = Arc::new(Meter::with_parts(
        config(&tmp.path().join("no-powercap")),
        Box::new(proc.procfs()),
        None,
        &tmp.path().join("no-cpuinfo"),
    ));
    assert!(!meter.uses_rapl());
    let w = meter.start(100);
    proc.set(100, 150, 25_000); // 1.5 s in the kernel
    proc.set(101, 50, 0); // 0.5 s in its child
    let r = w.finish();
    assert_eq!(r.cpu.method, "tdp-model");
    assert!((r.cpu_s - 2.0).abs() < 1e-9, "{r:?}");
    // 100 W × 2 CPU-seconds / 2 logical CPUs = 100 J.
    assert!((r.cpu.joules - 100.0).abs() < 1e-9, "{r:?}");
    // The TDP model's band is ±50 %, widened by the tick quantisation of a
    // tree read in clock ticks: 2 ticks × 2 processes = 40 ms at 50 W per
    // CPU-second, ±2 J.
    assert_eq!((r.cpu.low_j, r.cpu.high_j), (48.0, 152.0));
    assert_eq!(r.basis["cpu_time"]["quantum_s"], 0.04);
    assert!(r.notes[0].contains("±40 ms"), "{:?}", r.notes);
    assert_eq!(r.basis["bands"][0]["method"], "tdp-model");
    assert!(r.total_low_j < r.total_j && r.total_high_j > r.total_j);
    assert!((r.co2e_high_g / r.co2e_g - r.total_high_j / r.total_j).abs() < 1e-12);
    assert_eq!(r.ram.method, "ram-model");
    assert_eq!(r.peak_rss_bytes, 25_000 * 4096);
    assert!(r.gpu.is_none());
    assert_eq!(r.basis["cpu_tdp"]["watts"], 100.0);
    assert_eq!(r.basis["cpu_tdp"]["origin"], "env");
    let kwh = r.total_j / 3.6e6;
    assert!((r.co2e_g - kwh * 480.6).abs() < 1e-12);
}

/// A series with one step around now at `g`, or (`covers: false`) a day
/// ago only; read through the setting, as a user gives it.
fn series_config(dir: &Path, powercap: &Path, g: f64, covers: bool) -> EnergyConfig {
    let now = chrono::Utc::now();
    let hour = |h: i64| {
        (now - chrono::Duration::hours(h))
            .format("%Y-%m-%d %H:00:00")
            .to_string()
    };
    let rows = if covers {
        format!("{},{g}\n{},{g}\n{},{g}\n", hour(1), hour(0), hour(-1))
    } else {
        format!("{},{g}\n{},{g}\n", hour(25), hour(24))
    };
    let file = dir.join("intensity.csv");
    std::fs::write(&file, format!("start,g_per_kwh\n{rows}")).unwrap();
    let env = [(
        "grid_intensity_file".to_string(),
        file.display().to_string(),
    )];
    EnergyConfig {
        powercap_root: powercap.to_path_buf(),
        cpu_tdp_w: Some(Setting {
            value: 100.0,
            origin: Origin::Env,
        }),
        ..EnergyConfig::from_sources_at(&env, &[], dir).unwrap()
    }
}

#[test]
fn an_hourly_series_sets_the_windows_carbon_and_says_where_it_came_from() {
    let tmp = tempfile::tempdir().unwrap();
    let proc = FakeProc::new(tmp.path());
    let meter = Arc::new(Meter::with_parts(
        series_config(tmp.path(), &tmp.path().join("none"), 300.0, true),
        Box::new(proc.procfs()),
        None,
        &tmp.path().join("no-cpuinfo"),
    ));
    let w = meter.start(100);
    proc.set(100, 150, 25_000);
    let r = w.finish();
    // The hour's 300 g/kWh, not the yearly 480.6.
    assert!(
        (r.co2e_g - r.total_j / 3.6e6 * 300.0).abs() < 1e-12,
        "{r:?}"
    );
    let used = r.grid_hourly.as_ref().expect("provenance");
    let text = std::fs::read(tmp.path().join("intensity.csv")).unwrap();
    use sha2::Digest as _;
    assert_eq!(used["sha256"], hex::encode(sha2::Sha256::digest(&text)));
    assert_eq!(used["gap_s"], 0.0);
    assert_eq!(used["rows"][0]["g_per_kwh"], 300.0);
    assert_eq!(r.basis["grid_series"]["column"], "g_per_kwh");
    assert_eq!(r.basis["grid_series"]["origin"], "env");
    assert!(
        r.notes.iter().all(|n| !n.contains("no value")),
        "{:?}",
        r.notes
    );

    // A series that does not reach now: the yearly figure, and a note.
    let stale = tempfile::tempdir().unwrap();
    let meter = Arc::new(Meter::with_parts(
        series_config(stale.path(), &stale.path().join("none"), 300.0, false),
        Box::new(proc.procfs()),
        None,
        &stale.path().join("no-cpuinfo"),
    ));
    let w = meter.start(100);
    proc.set(100, 200, 25_000);
    let r = w.finish();
    assert!(
        (r.co2e_g - r.total_j / 3.6e6 * 480.6).abs() < 1e-12,
        "{r:?}"
    );
    assert!(
        r.notes.iter().any(|n| n.contains("has no value for")
            && n.contains("the yearly figure (WORLD, 480.6 g/kWh) was used there")),
        "{:?}",
        r.notes
    );

    // A file that cannot be read is a setting error naming it.
    let env = [(
        "grid_intensity_file".to_string(),
        "/nowhere.csv".to_string(),
    )];
    let err = EnergyConfig::from_sources_at(&env, &[], tmp.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("VENTURALITICA_GRID_INTENSITY_FILE") && err.contains("/nowhere.csv"),
        "{err}"
    );
}

#[test]
fn rapl_energy_is_shared_by_cpu_time() {
    let tmp = tempfile::tempdir().unwrap();
    let proc = FakeProc::new(tmp.path());
    let powercap = tmp.path().join("powercap");
    zone(&powercap, "intel-rapl:0", "package-0", 0, 1 << 40);
    let meter = Arc::new(Meter::with_parts(
        EnergyConfig {
            pue: Setting {
                value: 1.5,
                origin: Origin::Pyproject,
            },
            grid: Setting {
                value: venturalitica_energy::carbon::lookup("FRA").unwrap().clone(),
                origin: Origin::Env,
            },
            ..config(&powercap)
        },
        Box::new(proc.procfs()),
        None,
        &tmp.path().join("no-cpuinfo"),
    ));
    assert!(meter.uses_rapl());
    let w = meter.start(100);
    set_uj(&powercap, "intel-rapl:0", 40_000_000); // 40 J for the machine
    proc.machine(400, 100); // 4 busy CPU-seconds on the machine
    proc.set(100, 100, 25_000); // 1 of them in the kernel tree
    let r = w.finish();
    assert_eq!(r.cpu.method, "rapl");
    assert!((r.cpu.joules - 10.0).abs() < 1e-9, "{r:?}");
    let kwh = r.total_j / 3.6e6;
    assert!((r.co2e_g - kwh * 56.0 * 1.5).abs() < 1e-12);
    assert_eq!(r.basis["grid"]["code"], "FRA");
}

/// A GPU library double: device 0 has an energy counter, device 1 only
/// power (a constant 40 W); both list the same processes.
#[derive(Debug, Default)]
struct FakeGpu {
    energy_mj: Mutex<u64>,
    processes: Vec<GpuProcess>,
    utilization: Mutex<u32>,
    /// `None`: the device cannot tell per-process activity.
    activity: Mutex<Option<Vec<ProcessActivity>>>,
}

impl FakeGpu {
    fn new(processes: Vec<GpuProcess>, utilization: u32) -> Arc<FakeGpu> {
        Arc::new(FakeGpu {
            energy_mj: Mutex::new(1_000),
            processes,
            utilization: Mutex::new(utilization),
            activity: Mutex::new(None),
        })
    }
}

impl GpuBackend for FakeGpu {
    fn device_count(&self) -> u32 {
        2
    }
    fn name(&self, device: u32) -> String {
        format!("Fake GPU {device}")
    }
    fn total_energy_mj(&self, device: u32) -> Option<u64> {
        (device == 0).then(|| *self.energy_mj.lock().unwrap())
    }
    fn power_mw(&self, _device: u32) -> Option<u32> {
        Some(40_000)
    }
    fn processes(&self, _device: u32) -> Vec<GpuProcess> {
        self.processes.clone()
    }
    fn utilization(&self, _device: u32) -> Option<u32> {
        Some(*self.utilization.lock().unwrap())
    }
    fn process_activity(&self, _device: u32, _since_us: u64) -> Option<Vec<ProcessActivity>> {
        self.activity.lock().unwrap().clone()
    }
    fn minor_number(&self, device: u32) -> Option<u32> {
        Some(device)
    }
}

fn gpu_meter(tmp: &Path, proc: &FakeProc, gpu: &Arc<FakeGpu>, config: EnergyConfig) -> Arc<Meter> {
    let gpu: Arc<dyn GpuBackend> = gpu.clone();
    Arc::new(Meter::with_parts(
        config,
        Box::new(proc.procfs()),
        Some(gpu),
        &tmp.join("no-cpuinfo"),
    ))
}

#[test]
fn gpu_energy_by_counter_or_measured_power_shared_by_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let proc = FakeProc::new(tmp.path());
    let gpu = FakeGpu::new(vec![(101, Some(3_000)), (555, Some(1_000))], 50);
    let meter = gpu_meter(tmp.path(), &proc, &gpu, config(&tmp.path().join("none")));
    let w = meter.start(100);
    *gpu.energy_mj.lock().unwrap() = 9_000; // 8 J on device 0
    std::thread::sleep(std::time::Duration::from_millis(600)); // two samples
    let r = w.finish();
    let d0 = &r.gpu_devices[0];
    assert_eq!(
        (d0.method, d0.device_joules, d0.share),
        ("nvml-energy", 8.0, 0.75)
    );
    assert_eq!(
        (d0.share_basis, d0.activity),
        (ShareBasis::Memory, Activity::Active)
    );
    assert_eq!(d0.joules, 6.0);
    // ±5 %, plus 100 ms of the device's mean power (8 J over the window) × share.
    let period_j = 8.0 / r.wall_s * 0.1 * 0.75;
    assert!((d0.high_j - (6.0 * 1.05 + period_j)).abs() < 1e-9, "{d0:?}");
    let d1 = &r.gpu_devices[1];
    assert_eq!(d1.method, "nvml-power");
    // 40 W over the measured interval, which is the window to within the
    // time the reads take: not a nominal 0.25 s per sample.
    assert!(
        (d1.device_joules - 40.0 * r.wall_s).abs() < 40.0 * 0.01,
        "{d1:?} {}",
        r.wall_s
    );
    let g = r.gpu.as_ref().unwrap();
    assert_eq!(
        (g.method, g.activity),
        ("nvml-power", Some(Activity::Active))
    );
    assert!((g.joules - (6.0 + d1.joules)).abs() < 1e-9);
    assert!(g.low_j < g.joules && g.joules < g.high_j);
    assert!((r.total_j - (r.cpu.joules + r.ram.joules + g.joules)).abs() < 1e-9);
    assert!(r.total_low_j < r.total_j && r.total_j < r.total_high_j);
}

#[test]
fn a_window_shorter_than_a_sample_still_gets_its_share_and_a_note() {
    let tmp = tempfile::tempdir().unwrap();
    let proc = FakeProc::new(tmp.path());
    let gpu = FakeGpu::new(vec![(100, Some(1_000))], 80);
    let meter = gpu_meter(tmp.path(), &proc, &gpu, config(&tmp.path().join("none")));
    let w = meter.start(100);
    *gpu.energy_mj.lock().unwrap() = 1_500;
    let r = w.finish();
    assert!(r.wall_s < 0.1, "{}", r.wall_s);
    let d0 = &r.gpu_devices[0];
    assert_eq!((d0.share, d0.joules), (1.0, 0.5));
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("shorter than the nvml-energy update period")),
        "{:?}",
        r.notes
    );
}

#[test]
fn held_memory_on_an_idle_gpu_is_idle_not_work() {
    let tmp = tempfile::tempdir().unwrap();
    let proc = FakeProc::new(tmp.path());
    let gpu = FakeGpu::new(vec![(100, Some(1_000))], 0);
    *gpu.activity.lock().unwrap() = Some(Vec::new());
    let meter = gpu_meter(tmp.path(), &proc, &gpu, config(&tmp.path().join("none")));
    let r = meter.start(100).finish();
    let d0 = &r.gpu_devices[0];
    assert_eq!(
        (d0.share_basis, d0.activity),
        (ShareBasis::Memory, Activity::Idle)
    );
    assert_eq!(r.gpu.unwrap().activity, Some(Activity::Idle));
}

#[test]
fn sm_activity_beats_memory_for_the_share() {
    let tmp = tempfile::tempdir().unwrap();
    let proc = FakeProc::new(tmp.path());
    let gpu = FakeGpu::new(vec![(101, Some(1_000)), (555, Some(3_000))], 90);
    let sample = |pid, sm_percent| ProcessActivity {
        pid,
        timestamp_us: 1,
        sm_percent,
    };
    *gpu.activity.lock().unwrap() = Some(vec![sample(101, 60), sample(555, 20)]);
    let meter = gpu_meter(tmp.path(), &proc, &gpu, config(&tmp.path().join("none")));
    let d0 = meter.start(100).finish().gpu_devices[0].clone();
    assert_eq!((d0.share, d0.share_basis), (0.75, ShareBasis::SmActivity));
    assert_eq!(d0.activity, Activity::Active);

    // Others computed, the tree only held memory: no share of their work.
    *gpu.activity.lock().unwrap() = Some(vec![sample(555, 50)]);
    let d0 = meter.start(100).finish().gpu_devices[0].clone();
    assert_eq!((d0.share, d0.activity), (0.0, Activity::Idle));
}

#[cfg(unix)] // the fake tree's fd links are symlinks
#[test]
fn host_pids_seen_from_a_container_are_reported_not_guessed() {
    let tmp = tempfile::tempdir().unwrap();
    let proc = FakeProc::new(tmp.path());
    // NVML lists pid 424242, which is not in this (fake) PID namespace.
    let gpu = FakeGpu::new(vec![(424_242, Some(1_000))], 70);
    let meter = gpu_meter(tmp.path(), &proc, &gpu, config(&tmp.path().join("none")));
    let w = meter.start(100);
    *gpu.energy_mj.lock().unwrap() = 3_000;
    let r = w.finish();
    assert_eq!(
        r.gpu_devices[0].share_basis,
        ShareBasis::None,
        "the tree has no GPU open"
    );

    // The kernel's child holds /dev/nvidia0 open: it uses the device.
    std::fs::create_dir_all(proc.root.join("101/fd")).unwrap();
    std::os::unix::fs::symlink("/dev/nvidia0", proc.root.join("101/fd/7")).unwrap();
    let w = meter.start(100);
    *gpu.energy_mj.lock().unwrap() = 5_000;
    let r = w.finish();
    let d0 = &r.gpu_devices[0];
    assert_eq!(
        (d0.share_basis, d0.joules, d0.low_j),
        (ShareBasis::Unattributed, 0.0, 0.0)
    );
    assert!(
        d0.high_j >= 2.0,
        "the band reaches the device's 2 J: {d0:?}"
    );
    assert!(r.total_high_j >= r.total_j + 1.9);
    assert!(
        r.notes.iter().any(|n| n.contains("PID namespace")),
        "{:?}",
        r.notes
    );
}

#[test]
fn the_opt_in_idle_wait_keeps_asynchronous_gpu_work_in_its_window() {
    let tmp = tempfile::tempdir().unwrap();
    let proc = FakeProc::new(tmp.path());
    let run = |wait_ms: u64| {
        let gpu = FakeGpu::new(vec![(100, Some(1_000))], 100);
        let config = EnergyConfig {
            gpu_wait: std::time::Duration::from_millis(wait_ms),
            ..config(&tmp.path().join("none"))
        };
        let meter = gpu_meter(tmp.path(), &proc, &gpu, config);
        let w = meter.start(100);
        // Work still queued on the device when the cell returns: it ends
        // 300 ms later, having used 6 J.
        let device = Arc::clone(&gpu);
        let finisher = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            *device.energy_mj.lock().unwrap() += 6_000;
            *device.utilization.lock().unwrap() = 0;
        });
        let r = w.finish();
        finisher.join().unwrap();
        r
    };
    let waited = run(5_000);
    assert_eq!(waited.gpu_devices[0].device_joules, 6.0);
    assert!(
        waited.wall_s >= 0.3 && waited.wall_s < 2.0,
        "{}",
        waited.wall_s
    );
    assert_eq!(waited.basis["gpu_wait_ms"], 5_000);
    let not_waited = run(0);
    assert_eq!(not_waited.gpu_devices[0].device_joules, 0.0);
    assert!(not_waited.wall_s < 0.3);
}

#[test]
fn no_gpu_library_means_no_gpu_section() {
    // Without an NVIDIA driver, opening NVML must quietly give nothing.
    if !Path::new("/dev/nvidiactl").exists() {
        assert!(venturalitica_energy::gpu::Nvml::open().is_none());
    }
}

/// Burns CPU on this thread for about `ms` milliseconds of CPU time.
#[cfg(target_os = "linux")]
fn burn_cpu(ms: u64) {
    use nix::time::{clock_gettime, ClockId};
    let now = || {
        let t = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).unwrap();
        t.tv_sec() as f64 + t.tv_nsec() as f64 / 1e9
    };
    let until = now() + ms as f64 / 1000.0;
    let mut x = 0u64;
    while now() < until {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

#[cfg(target_os = "linux")]
#[test]
fn cpu_time_of_a_real_process_is_exact_not_ticks() {
    let fs = ProcFs::system();
    // Tests run on threads of one process, so other tests' work would show
    // in this process's clock: a child is measured instead. It works, then
    // `exec`s into sleep (same process, same clock) so it can be read idle.
    let mut child = std::process::Command::new("sh")
        .args([
            "-c",
            "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 2",
        ])
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut last = -1.0;
    let ours = loop {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let now = fs.sample(&[pid]).cpu_seconds;
        if now == last {
            break now;
        }
        last = now;
    };
    // The oracle: the one thread's runtime in nanoseconds, from schedstat
    // (present where the kernel has CONFIG_SCHED_INFO, which is nearly all).
    let schedstat = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).ok();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(ours > 0.0);
    if let Some(s) = schedstat {
        let ns: f64 = s.split_whitespace().next().unwrap().parse().unwrap();
        assert!(
            (ours - ns / 1e9).abs() < 1e-6,
            "ours {ours} s, schedstat {ns} ns"
        );
    }
    let ticks = venturalitica_energy::procfs::parse_stat(&stat)
        .unwrap()
        .own_ticks;
    // utime and stime are each truncated to ticks: the sum is within 2.
    assert!((ours - ticks as f64 * fs.tick_seconds()).abs() < 2.0 * fs.tick_seconds());

    // A thread that ran and exited still counts in its process (a sum over
    // the live threads' schedstat would lose it).
    let me = std::process::id();
    let before = fs.sample(&[me]).cpu_seconds;
    std::thread::spawn(|| burn_cpu(20)).join().unwrap();
    let used = fs.sample(&[me]).cpu_seconds - before;
    assert!(used >= 0.020, "the exited thread's 20 ms read as {used} s");
}

#[cfg(target_os = "linux")]
#[test]
fn a_reaped_childs_cpu_time_counts_with_its_tick_band() {
    let fs = ProcFs::system();
    let me = std::process::id();
    let before = fs.sample(&[me]);
    let status = std::process::Command::new("sh")
        .args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"])
        .status()
        .unwrap();
    assert!(status.success());
    let after = fs.sample(&[me]);
    let child_s = after.tick_seconds - before.tick_seconds;
    assert!(child_s > 0.0, "the waited-for child's time shows in cutime");
    assert!(after.cpu_seconds - before.cpu_seconds >= child_s);
    assert_eq!(after.tick_processes, 1);
}

/// A Mac whose kernel 100 reports the energy the OS attributes to it.
#[derive(Debug, Default, Clone)]
struct FakeMac {
    rusage: Arc<Mutex<std::collections::HashMap<u32, Rusage>>>,
}

impl Darwin for FakeMac {
    fn rusage(&self, pid: u32) -> Option<Rusage> {
        self.rusage.lock().unwrap().get(&pid).copied()
    }
    fn children(&self, _pid: u32) -> Vec<u32> {
        Vec::new()
    }
    fn timebase(&self) -> (u32, u32) {
        (125, 3)
    }
    fn logical_cpus(&self) -> usize {
        8
    }
}

#[test]
fn apple_silicon_energy_is_measured_per_process_not_modelled() {
    let tmp = tempfile::tempdir().unwrap();
    let mac = FakeMac::default();
    let at = |units: u64, nj: Option<u64>| Rusage {
        user_time: units,
        resident_size: 1 << 30,
        energy_nj: nj,
        ..Rusage::default()
    };
    mac.rusage
        .lock()
        .unwrap()
        .insert(100, at(0, Some(5_000_000_000)));
    let meter = Arc::new(Meter::with_parts(
        config(&tmp.path().join("no-powercap")),
        Box::new(DarwinTree::new(mac.clone())),
        None,
        &tmp.path().join("no-cpuinfo"),
    ));
    let w = meter.start(100);
    // 48,000,000 units × 125/3 ns = 2 s; the OS charged 3.25 J meanwhile.
    mac.rusage
        .lock()
        .unwrap()
        .insert(100, at(48_000_000, Some(8_250_000_000)));
    let r = w.finish();
    assert_eq!(r.cpu.method, "os-energy");
    assert!((r.cpu.joules - 3.25).abs() < 1e-9, "{r:?}");
    assert!((r.cpu_s - 2.0).abs() < 1e-9, "{r:?}");
    // Its own band (±25 %), and no TDP in the basis: none was used.
    assert!((r.cpu.low_j - 3.25 * 0.75).abs() < 1e-9);
    assert!(r.basis["cpu_tdp"].is_null(), "{}", r.basis);
    assert_eq!(r.basis["bands"][0]["method"], "os-energy");
    assert_eq!(r.ram.method, "ram-model");

    // An Intel Mac keeps no energy: the TDP model over the same CPU time,
    // 100 W × 2 s / 8 CPUs.
    mac.rusage.lock().unwrap().insert(100, at(0, None));
    let w = meter.start(100);
    mac.rusage.lock().unwrap().insert(100, at(48_000_000, None));
    let r = w.finish();
    assert_eq!(r.cpu.method, "tdp-model");
    assert!((r.cpu.joules - 25.0).abs() < 1e-9, "{r:?}");
}

/// A Windows machine whose kernel 100 runs in a job (it has seen 1.5 s).
#[derive(Debug, Default, Clone)]
struct FakeWindows {
    job_100ns: Arc<Mutex<u64>>,
}

impl Win32 for FakeWindows {
    fn job_cpu(&self, root: u32) -> Option<u64> {
        (root == 100).then(|| *self.job_100ns.lock().unwrap())
    }
    fn process(&self, pid: u32) -> Option<(u64, u64)> {
        (pid == 100).then_some((0, 200 << 20))
    }
    fn parents(&self) -> Vec<(u32, u32)> {
        vec![(100, 1)]
    }
    fn logical_cpus(&self) -> usize {
        4
    }
}

#[test]
fn a_windows_jobs_cpu_time_is_modelled_with_its_tick_band() {
    let tmp = tempfile::tempdir().unwrap();
    let win = FakeWindows::default();
    let meter = Arc::new(Meter::with_parts(
        config(&tmp.path().join("no-powercap")),
        Box::new(Win32Tree::new(win.clone())),
        None,
        &tmp.path().join("no-cpuinfo"),
    ));
    let w = meter.start(100);
    *win.job_100ns.lock().unwrap() = 15_000_000;
    let r = w.finish();
    assert_eq!(r.cpu.method, "tdp-model");
    assert!((r.cpu_s - 1.5).abs() < 1e-9, "{r:?}");
    // 100 W × 1.5 s / 4 CPUs = 37.5 J, ±50 %, widened by 2 ticks of
    // 15.625 ms at 25 W per CPU-second (±0.78 J).
    assert!((r.cpu.joules - 37.5).abs() < 1e-9, "{r:?}");
    assert!(
        (r.cpu.high_j - (37.5 * 1.5 + 2.0 * 0.015_625 * 25.0)).abs() < 1e-9,
        "{r:?}"
    );
    assert_eq!(
        r.basis["cpu_time"]["source"],
        "Job Object accounting, else GetProcessTimes (charged per 15.625 ms tick)"
    );
}
