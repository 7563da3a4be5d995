//! Energy settings, in one place.
//!
//! Precedence, highest first:
//! 1. environment variables (`VENTURALITICA_COUNTRY`, `VENTURALITICA_REGION`,
//!    `VENTURALITICA_GRID_INTENSITY`, `VENTURALITICA_PUE`,
//!    `VENTURALITICA_CPU_TDP_W`, `VENTURALITICA_RAM_W_PER_GB`,
//!    `VENTURALITICA_POWERCAP_ROOT`, `VENTURALITICA_ENERGY`,
//!    `VENTURALITICA_GPU`, `VENTURALITICA_GPU_WAIT_MS`);
//! 2. the `[tool.venturalitica]` table of the project's `pyproject.toml`
//!    (keys without the prefix, lower case: `country = "FRA"`, `pue = 1.2`);
//! 3. the defaults below.
//!
//! Each value remembers where it came from, and reports carry that origin,
//! so nobody has to guess which PUE a figure used.

use std::path::{Path, PathBuf};

use serde::Serialize;
use venturalitica_vocab::project::Pyproject;

use crate::carbon::{self, GridIntensity};
use crate::hourly::HourlySeries;
use crate::EnergyError;

/// Default power usage effectiveness: the machine itself, no data-centre overhead.
pub const DEFAULT_PUE: f64 = 1.0;
/// RAM power per GB of resident memory: 3 W per 8 GB (the Crucial figure
/// CodeCarbon used before its v3), i.e. 0.375 W/GB.
pub const DEFAULT_RAM_W_PER_GB: f64 = 0.375;
/// The longest wait for idle GPUs a window may ask for.
pub const MAX_GPU_WAIT_MS: f64 = 60_000.0;
/// Where Linux exposes RAPL.
pub const DEFAULT_POWERCAP_ROOT: &str = "/sys/class/powercap";

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Env,
    Pyproject,
    Default,
    /// Detected from the machine (the CPU model's TDP).
    Detected,
}

/// A value and its origin.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Setting<T> {
    pub value: T,
    pub origin: Origin,
}

/// The settings the meter uses.
#[derive(Debug, Clone)]
pub struct EnergyConfig {
    /// `false` turns measurement off (`VENTURALITICA_ENERGY=off`).
    pub enabled: bool,
    pub grid: Setting<GridIntensity>,
    /// An intensity series by the hour (`grid_intensity_file`): where it
    /// covers a window, it beats `grid`, which fills its gaps.
    pub grid_series: Option<Setting<std::sync::Arc<HourlySeries>>>,
    pub pue: Setting<f64>,
    /// `None`: from the CPU model table, else the default.
    pub cpu_tdp_w: Option<Setting<f64>>,
    pub ram_w_per_gb: Setting<f64>,
    pub powercap_root: PathBuf,
    /// `false` leaves NVML closed (`VENTURALITICA_GPU=off`): no GPU section.
    pub gpu: bool,
    /// Before a window closes, wait up to this long for the GPUs the tree
    /// uses to go idle (work launched asynchronously is otherwise billed
    /// to the next window). 0, the default, does not wait.
    pub gpu_wait: std::time::Duration,
    /// Root of the proc filesystem (a fake tree in tests).
    pub proc_root: PathBuf,
}

impl Default for EnergyConfig {
    fn default() -> Self {
        EnergyConfig {
            enabled: true,
            grid: Setting {
                value: carbon::world().clone(),
                origin: Origin::Default,
            },
            grid_series: None,
            pue: Setting {
                value: DEFAULT_PUE,
                origin: Origin::Default,
            },
            cpu_tdp_w: None,
            ram_w_per_gb: Setting {
                value: DEFAULT_RAM_W_PER_GB,
                origin: Origin::Default,
            },
            powercap_root: PathBuf::from(DEFAULT_POWERCAP_ROOT),
            gpu: true,
            gpu_wait: std::time::Duration::ZERO,
            proc_root: PathBuf::from("/proc"),
        }
    }
}

/// Raw values by key, from one source.
type Raw = Vec<(String, String)>;

const KEYS: [&str; 11] = [
    "country",
    "region",
    "grid_intensity",
    "grid_intensity_file",
    "pue",
    "cpu_tdp_w",
    "ram_w_per_gb",
    "powercap_root",
    "energy",
    "gpu",
    "gpu_wait_ms",
];

impl EnergyConfig {
    /// Settings for the project at `root`, from the process environment.
    pub fn load(root: &Path) -> Result<EnergyConfig, EnergyError> {
        let env: Raw = KEYS
            .iter()
            .filter_map(|k| {
                let var = format!("VENTURALITICA_{}", k.to_uppercase());
                std::env::var(&var).ok().map(|v| (k.to_string(), v))
            })
            .collect();
        let pyproject = read_pyproject(root)?;
        EnergyConfig::from_sources_at(&env, &pyproject, root)
    }

    /// [`EnergyConfig::from_sources`], with a relative
    /// `grid_intensity_file` of pyproject.toml read from `root`.
    pub fn from_sources_at(
        env: &[(String, String)],
        pyproject: &[(String, String)],
        root: &Path,
    ) -> Result<EnergyConfig, EnergyError> {
        let mut config = EnergyConfig::from_sources(env, pyproject)?;
        let named = env
            .iter()
            .find(|(k, _)| k == "grid_intensity_file")
            .map(|(_, v)| {
                (
                    v,
                    Origin::Env,
                    "VENTURALITICA_GRID_INTENSITY_FILE".to_string(),
                    None,
                )
            })
            .or_else(|| {
                pyproject
                    .iter()
                    .find(|(k, _)| k == "grid_intensity_file")
                    .map(|(_, v)| {
                        let name =
                            "pyproject.toml [tool.venturalitica] grid_intensity_file".to_string();
                        (v, Origin::Pyproject, name, Some(root))
                    })
            });
        if let Some((value, origin, name, base)) = named {
            let path = Path::new(value.trim());
            let path = match base {
                Some(base) if path.is_relative() => base.join(path),
                _ => path.to_path_buf(),
            };
            let series = HourlySeries::read(&path).map_err(|reason| EnergyError::BadSetting {
                origin: name,
                key: "grid_intensity_file".into(),
                value: value.clone(),
                reason: format!("{}: {reason}", path.display()),
            })?;
            config.grid_series = Some(Setting {
                value: std::sync::Arc::new(series),
                origin,
            });
        }
        Ok(config)
    }

    /// Settings from environment values and pyproject values (key, value).
    pub fn from_sources(
        env: &[(String, String)],
        pyproject: &[(String, String)],
    ) -> Result<EnergyConfig, EnergyError> {
        let get = |key: &str| -> Option<(String, Origin, String)> {
            if let Some((_, v)) = env.iter().find(|(k, _)| k == key) {
                return Some((
                    v.clone(),
                    Origin::Env,
                    format!("VENTURALITICA_{}", key.to_uppercase()),
                ));
            }
            pyproject.iter().find(|(k, _)| k == key).map(|(_, v)| {
                (
                    v.clone(),
                    Origin::Pyproject,
                    format!("pyproject.toml [tool.venturalitica] {key}"),
                )
            })
        };
        let bad = |origin: &str, key: &str, value: &str, reason: &str| EnergyError::BadSetting {
            origin: origin.to_string(),
            key: key.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let number = |key: &str, min: f64| -> Result<Option<Setting<f64>>, EnergyError> {
            let Some((v, origin, name)) = get(key) else {
                return Ok(None);
            };
            match v.trim().parse::<f64>() {
                Ok(x) if x.is_finite() && x >= min => Ok(Some(Setting { value: x, origin })),
                _ => Err(bad(&name, key, &v, &format!("expected a number >= {min}"))),
            }
        };
        let switch = |key: &str| -> Result<Option<bool>, EnergyError> {
            let Some((v, _, name)) = get(key) else {
                return Ok(None);
            };
            match v.trim().to_lowercase().as_str() {
                "on" | "1" | "true" | "yes" => Ok(Some(true)),
                "off" | "0" | "false" | "no" => Ok(Some(false)),
                _ => Err(bad(&name, key, &v, "expected on or off")),
            }
        };
        let mut config = EnergyConfig::default();
        if let Some(on) = switch("energy")? {
            config.enabled = on;
        }
        if let Some(on) = switch("gpu")? {
            config.gpu = on;
        }
        if let Some((v, _, name)) = get("gpu_wait_ms") {
            config.gpu_wait = match v.trim().parse::<f64>() {
                Ok(ms) if (0.0..=MAX_GPU_WAIT_MS).contains(&ms) => {
                    std::time::Duration::from_secs_f64(ms / 1000.0)
                }
                _ => {
                    let why = format!("expected milliseconds from 0 to {MAX_GPU_WAIT_MS}");
                    return Err(bad(&name, "gpu_wait_ms", &v, &why));
                }
            };
        }
        // Region beats country beats the world default; an explicit
        // intensity beats them all.
        for key in ["country", "region"] {
            if let Some((v, origin, name)) = get(key) {
                let row = carbon::lookup(v.trim()).ok_or_else(|| {
                    bad(
                        &name,
                        key,
                        &v,
                        "not in the grid table (ISO 3166-1 alpha-3 such as FRA, or a US state such as US-CA)",
                    )
                })?;
                config.grid = Setting {
                    value: row.clone(),
                    origin,
                };
            }
        }
        if let Some(s) = number("grid_intensity", 0.0)? {
            config.grid = Setting {
                value: GridIntensity {
                    code: "CUSTOM".to_string(),
                    name: "set by the user".to_string(),
                    g_per_kwh: s.value,
                    year: None,
                    source: "grid_intensity setting".to_string(),
                },
                origin: s.origin,
            };
        }
        if let Some(s) = number("pue", 1.0)? {
            config.pue = s;
        }
        config.cpu_tdp_w = number("cpu_tdp_w", 0.0)?;
        if let Some(s) = number("ram_w_per_gb", 0.0)? {
            config.ram_w_per_gb = s;
        }
        if let Some((v, _, _)) = get("powercap_root") {
            config.powercap_root = PathBuf::from(v);
        }
        Ok(config)
    }
}

/// `[tool.venturalitica]` of a pyproject.toml, as (key, value) strings; a
/// missing file is empty, a broken one an error naming it.
fn read_pyproject(root: &Path) -> Result<Raw, EnergyError> {
    let Some(pyproject) = Pyproject::read(root)? else {
        return Ok(Vec::new());
    };
    let Some(table) = pyproject.tool_table(&[]) else {
        return Ok(Vec::new());
    };
    Ok(table
        .iter()
        .filter(|(k, _)| KEYS.contains(&k.as_str()))
        .map(|(k, v)| {
            let v = match v {
                toml::Value::String(s) => s.clone(),
                toml::Value::Boolean(b) => if *b { "on" } else { "off" }.to_string(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                // Arrays and tables are not valid values: the parse names the key.
                _ => String::from("<not a scalar>"),
            };
            (k.clone(), v)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> Raw {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn env_beats_pyproject_beats_defaults() {
        let c = EnergyConfig::from_sources(
            &raw(&[("pue", "1.5")]),
            &raw(&[("pue", "1.2"), ("country", "FRA"), ("cpu_tdp_w", "65")]),
        )
        .expect("valid");
        assert_eq!(
            c.pue,
            Setting {
                value: 1.5,
                origin: Origin::Env
            }
        );
        assert_eq!(c.grid.value.code, "FRA");
        assert_eq!(c.grid.origin, Origin::Pyproject);
        assert_eq!(c.cpu_tdp_w.map(|s| s.value), Some(65.0));
        assert_eq!(c.ram_w_per_gb.origin, Origin::Default);
        let d = EnergyConfig::from_sources(&[], &[]).expect("valid");
        assert_eq!(d.grid.value.code, "WORLD");
        assert!(d.enabled);
    }

    #[test]
    fn bad_values_are_errors_that_name_their_origin() {
        let e = EnergyConfig::from_sources(&raw(&[("pue", "0.5")]), &[]).expect_err("pue < 1");
        assert!(e.to_string().contains("VENTURALITICA_PUE"), "{e}");
        let e =
            EnergyConfig::from_sources(&[], &raw(&[("country", "France")])).expect_err("not ISO");
        assert!(
            e.to_string()
                .contains("pyproject.toml [tool.venturalitica] country"),
            "{e}"
        );
        assert!(EnergyConfig::from_sources(&raw(&[("energy", "maybe")]), &[]).is_err());
        assert!(EnergyConfig::from_sources(&raw(&[("gpu", "maybe")]), &[]).is_err());
        for wait in ["-1", "60001", "soon"] {
            let err = EnergyConfig::from_sources(&raw(&[("gpu_wait_ms", wait)]), &[])
                .expect_err(wait)
                .to_string();
            assert!(err.contains("VENTURALITICA_GPU_WAIT_MS"), "{err}");
        }
        let c = EnergyConfig::from_sources(&raw(&[("gpu", "off"), ("gpu_wait_ms", "250")]), &[])
            .expect("valid");
        assert!(!c.gpu);
        assert_eq!(c.gpu_wait, std::time::Duration::from_millis(250));
    }

    #[test]
    fn region_and_explicit_intensity_take_precedence() {
        let c =
            EnergyConfig::from_sources(&raw(&[("region", "US-CA")]), &raw(&[("country", "USA")]))
                .expect("valid");
        assert_eq!(c.grid.value.code, "US-CA");
        let c = EnergyConfig::from_sources(
            &raw(&[("grid_intensity", "100")]),
            &raw(&[("country", "USA")]),
        )
        .expect("valid");
        assert_eq!(c.grid.value.g_per_kwh, 100.0);
    }

    #[test]
    fn reads_tool_venturalitica_from_pyproject() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(
            dir.path().join("pyproject.toml"),
            "[project]\nname='x'\n[tool.venturalitica]\ncountry = \"DEU\"\npue = 1.3\nenergy = true\n",
        )
        .expect("write");
        let raw = read_pyproject(dir.path()).expect("parses");
        assert!(raw.contains(&("pue".to_string(), "1.3".to_string())));
        assert!(raw.contains(&("country".to_string(), "DEU".to_string())));
        std::fs::write(dir.path().join("pyproject.toml"), "[tool.venturalitica\n").expect("write");
        assert!(read_pyproject(dir.path()).is_err());
    }
}
