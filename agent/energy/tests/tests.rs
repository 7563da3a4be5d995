//! The energy readers against fake sysfs and proc trees and a fake GPU.
//! This machine has no RAPL and no GPU: these trees are how the real reading
//! code is exercised here.

#![allow(clippy::unwrap_used)] // a panic is the failure message in a test

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use venturalitica_energy::config::{EnergyConfig, Origin, Setting};
use venturalitica_energy::gpu::{GpuBackend, GpuProcess};
use venturalitica_energy::meter::Meter;
use venturalitica_energy::procfs::ProcFs;
use venturalitica_energy::rapl::{Rapl, Unavailable};

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
        proc.procfs(),
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
    assert_eq!(r.ram.method, "ram-model");
    assert_eq!(r.peak_rss_bytes, 25_000 * 4096);
    assert!(r.gpu.is_none());
    assert_eq!(r.basis["cpu_tdp"]["watts"], 100.0);
    assert_eq!(r.basis["cpu_tdp"]["origin"], "env");
    let kwh = r.total_j / 3.6e6;
    assert!((r.co2e_g - kwh * 480.6).abs() < 1e-12);
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
        proc.procfs(),
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

/// A GPU library double: device 0 has an energy counter, device 1 only power.
#[derive(Debug, Default)]
struct FakeGpu {
    energy_mj: Mutex<u64>,
    processes: Vec<GpuProcess>,
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
}

#[test]
fn gpu_energy_by_counter_or_power_shared_by_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let proc = FakeProc::new(tmp.path());
    let gpu = Arc::new(FakeGpu {
        energy_mj: Mutex::new(1_000),
        processes: vec![(101, Some(3_000)), (555, Some(1_000))],
    });
    let meter = Arc::new(Meter::with_parts(
        config(&tmp.path().join("no-powercap")),
        proc.procfs(),
        Some(gpu.clone()),
        &tmp.path().join("no-cpuinfo"),
    ));
    let w = meter.start(100);
    *gpu.energy_mj.lock().unwrap() = 9_000; // 8 J on device 0
    std::thread::sleep(std::time::Duration::from_millis(600)); // two samples
    let r = w.finish();
    let d0 = &r.gpu_devices[0];
    assert_eq!(
        (d0.method, d0.device_joules, d0.share),
        ("nvml-energy", 8.0, 0.75)
    );
    assert_eq!(d0.joules, 6.0);
    let d1 = &r.gpu_devices[1];
    assert_eq!(d1.method, "nvml-power");
    // 40 W for at least two 0.25 s samples.
    assert!(d1.device_joules >= 20.0 - 1e-9, "{d1:?}");
    assert_eq!(r.gpu.as_ref().unwrap().method, "nvml-power");
    assert!((r.gpu.as_ref().unwrap().joules - (6.0 + d1.joules)).abs() < 1e-9);
}

#[test]
fn no_gpu_library_means_no_gpu_section() {
    // Without an NVIDIA driver, opening NVML must quietly give nothing.
    if !Path::new("/dev/nvidiactl").exists() {
        assert!(venturalitica_energy::gpu::Nvml::open().is_none());
    }
}
