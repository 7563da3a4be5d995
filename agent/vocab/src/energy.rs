//! An energy report's totals: what every reader of cell and monitor
//! events sums (the dashboard, the Annex IV, the checkpoint's index).

use serde::{Deserialize, Serialize};
use serde_json::Value;

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

    /// The totals of an energy report (`payload.energy` of a cell or
    /// monitor event); `None` without a total or a wall time.
    pub fn from_report(r: &Value) -> Option<EnergyTotals> {
        let total_j = r["total_j"].as_f64()?;
        Some(EnergyTotals {
            low_j: r["total_low_j"].as_f64().unwrap_or(total_j),
            high_j: r["total_high_j"].as_f64().unwrap_or(total_j),
            wall_s: r["wall_s"].as_f64()?,
            cpu_j: r["cpu"]["joules"].as_f64().unwrap_or(0.0),
            ram_j: r["ram"]["joules"].as_f64().unwrap_or(0.0),
            gpu_j: r["gpu"]["joules"].as_f64().unwrap_or(0.0),
            total_j,
            co2e_g: r["co2e_g"].as_f64().unwrap_or(0.0),
            peak_rss_bytes: r["peak_rss_bytes"].as_u64().unwrap_or(0),
            cpu_method: r["cpu"]["method"].as_str().unwrap_or("").to_string(),
        })
    }
}
