//! An energy report as its readers see it (a cell's or a window's
//! `energy`: docs/energy.md), and its totals, which every reader sums (the
//! dashboard, the Annex IV, the checkpoint's index, the export).
//!
//! Only the total is required: a record from before
//! bands, components or carbon reads with what it has.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One component's energy (CPU, RAM, GPU), with its error band.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Component {
    pub joules: f64,
    /// `rapl`, `os-energy`, `tdp-model`, `ram-model`, `nvml-energy` or
    /// `nvml-power`.
    #[serde(default)]
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low_j: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_j: Option<f64>,
    /// The GPU only: `active`, `idle` or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity: Option<String>,
}

/// The energy and carbon of one cell or window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EnergyReport {
    #[serde(default)]
    pub wall_s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Component>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ram: Option<Component>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<Component>,
    /// Per device: its energy and the kernel's share (docs/energy.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpu_devices: Vec<Value>,
    pub total_j: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_low_j: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_high_j: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kwh: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub co2e_g: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub co2e_low_g: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub co2e_high_g: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_rss_bytes: Option<u64>,
    /// The figures the model used, with their origins (a recorder keeps
    /// it once per session and writes `basis_sha256` instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis_sha256: Option<String>,
    /// With an hourly grid intensity series: the file, the rows used, the
    /// gap and the intensity the CO2e used (docs/energy.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid_hourly: Option<Value>,
}

/// A cell's `energy`: the report, or why there is none (the meter was
/// still starting, or could not start) — the cell ran all the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Measured {
    Report(Box<EnergyReport>),
    Failed { error: String },
}

impl Measured {
    pub fn report(&self) -> Option<&EnergyReport> {
        match self {
            Measured::Report(r) => Some(r),
            Measured::Failed { .. } => None,
        }
    }
}

impl EnergyReport {
    /// The components there are, by name.
    pub fn components(&self) -> [(&'static str, Option<&Component>); 3] {
        [
            ("cpu", self.cpu.as_ref()),
            ("ram", self.ram.as_ref()),
            ("gpu", self.gpu.as_ref()),
        ]
    }
}

/// Energy of one cell or window, by component.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EnergyTotals {
    pub wall_s: f64,
    pub cpu_j: f64,
    pub ram_j: f64,
    pub gpu_j: f64,
    pub total_j: f64,
    /// The total's error band (a record from before bands: the total).
    pub low_j: f64,
    pub high_j: f64,
    pub co2e_g: f64,
    pub peak_rss_bytes: u64,
    pub cpu_method: String,
}

impl EnergyTotals {
    /// Adds `e` in: joules and carbon sum, peak memory is the larger.
    /// Bands add linearly: a model's error (a TDP that is off) is the same
    /// in every cell, so they do not average out.
    pub fn add(&mut self, e: &EnergyTotals) {
        self.low_j += e.low_j;
        self.high_j += e.high_j;
        self.wall_s += e.wall_s;
        self.cpu_j += e.cpu_j;
        self.ram_j += e.ram_j;
        self.gpu_j += e.gpu_j;
        self.total_j += e.total_j;
        self.co2e_g += e.co2e_g;
        self.peak_rss_bytes = self.peak_rss_bytes.max(e.peak_rss_bytes);
    }

    /// The totals of an energy report.
    pub fn of(r: &EnergyReport) -> EnergyTotals {
        let joules = |c: &Option<Component>| c.as_ref().map_or(0.0, |c| c.joules);
        EnergyTotals {
            low_j: r.total_low_j.unwrap_or(r.total_j),
            high_j: r.total_high_j.unwrap_or(r.total_j),
            wall_s: r.wall_s,
            cpu_j: joules(&r.cpu),
            ram_j: joules(&r.ram),
            gpu_j: joules(&r.gpu),
            total_j: r.total_j,
            co2e_g: r.co2e_g.unwrap_or(0.0),
            peak_rss_bytes: r.peak_rss_bytes.unwrap_or(0),
            cpu_method: r.cpu.as_ref().map(|c| c.method.clone()).unwrap_or_default(),
        }
    }
}
