//! RAPL energy counters (`energy_uj`) under a powercap root.
//!
//! Zones are `intel-rapl:N` (packages) and `intel-rapl:N:M` (sub-zones:
//! `core`, `uncore`, `dram`); `intel-rapl-mmio:*` and multi-die CPUs expose
//! the same counter more than once, so zones are kept once per name. A
//! counter wraps at `max_energy_range_uj`. Since 2020 `energy_uj` is readable
//! by root only on most distributions: an unreadable counter makes RAPL
//! unavailable (and the meter falls back to the TDP model), never an error.

use std::path::{Path, PathBuf};

/// Why RAPL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    #[error("no powercap directory at {0}")]
    NoPowercap(PathBuf),
    #[error("no RAPL package zones under {0}")]
    NoZones(PathBuf),
    #[error("{0} cannot be read (RAPL counters are root-only on most systems)")]
    Unreadable(PathBuf),
}

/// What a zone measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneKind {
    Package,
    Dram,
}

#[derive(Debug, Clone)]
struct Zone {
    name: String,
    kind: ZoneKind,
    energy_uj: PathBuf,
    max_range_uj: u64,
}

/// The RAPL zones of a machine.
#[derive(Debug, Clone)]
pub struct Rapl {
    zones: Vec<Zone>,
}

/// Counter values, one per zone, in zone order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading(Vec<u64>);

/// Energy between two readings, joules.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RaplEnergy {
    pub package_j: f64,
    pub dram_j: Option<f64>,
}

fn read_u64(path: &Path) -> Result<u64, Unavailable> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| Unavailable::Unreadable(path.to_path_buf()))
}

impl Rapl {
    /// Finds the zones under `root` and checks each counter can be read.
    pub fn discover(root: &Path) -> Result<Rapl, Unavailable> {
        let entries =
            std::fs::read_dir(root).map_err(|_| Unavailable::NoPowercap(root.to_path_buf()))?;
        let mut dirs: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("intel-rapl"))
            })
            .collect();
        dirs.sort();
        let mut zones: Vec<Zone> = Vec::new();
        for dir in dirs {
            let Ok(name) = std::fs::read_to_string(dir.join("name")) else {
                continue;
            };
            let name = name.trim().to_string();
            let kind = if name.starts_with("package") {
                ZoneKind::Package
            } else if name == "dram" {
                ZoneKind::Dram
            } else {
                continue; // core/uncore/psys overlap the package
            };
            // A dram zone is named "dram" under every package: keep it per parent.
            let key = match kind {
                ZoneKind::Package => name.clone(),
                ZoneKind::Dram => format!(
                    "{}/dram",
                    dir.file_name()
                        .and_then(|n| n.to_str())
                        .unwrap_or("")
                        .rsplit_once(':')
                        .map(|(p, _)| p)
                        .unwrap_or("")
                ),
            };
            if zones.iter().any(|z| z.name == key) {
                continue; // the same counter seen through another zone
            }
            let energy_uj = dir.join("energy_uj");
            read_u64(&energy_uj)?;
            let max_range_uj = read_u64(&dir.join("max_energy_range_uj")).unwrap_or(u64::MAX);
            zones.push(Zone {
                name: key,
                kind,
                energy_uj,
                max_range_uj,
            });
        }
        if !zones.iter().any(|z| z.kind == ZoneKind::Package) {
            return Err(Unavailable::NoZones(root.to_path_buf()));
        }
        Ok(Rapl { zones })
    }

    /// The zone names kept (packages once each, dram per package).
    pub fn zone_names(&self) -> Vec<&str> {
        self.zones.iter().map(|z| z.name.as_str()).collect()
    }

    /// Reads every counter; `None` when one became unreadable.
    pub fn read(&self) -> Option<Reading> {
        self.zones
            .iter()
            .map(|z| read_u64(&z.energy_uj).ok())
            .collect::<Option<Vec<_>>>()
            .map(Reading)
    }

    /// Energy from `before` to `after`, counting one wrap per zone.
    pub fn energy(&self, before: &Reading, after: &Reading) -> RaplEnergy {
        let mut out = RaplEnergy::default();
        for ((zone, b), a) in self.zones.iter().zip(&before.0).zip(&after.0) {
            let uj = if a >= b {
                a - b
            } else {
                zone.max_range_uj.saturating_sub(*b) + a
            };
            let j = uj as f64 / 1e6;
            match zone.kind {
                ZoneKind::Package => out.package_j += j,
                ZoneKind::Dram => *out.dram_j.get_or_insert(0.0) += j,
            }
        }
        out
    }
}
