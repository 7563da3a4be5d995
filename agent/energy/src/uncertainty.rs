//! Error bands: how far each figure may be from the truth, and why.
//!
//! Every method has a relative band, stated with where it comes from
//! (docs/energy.md has the table and the references). On top of it, a
//! window can add an absolute term: CPU time read in clock ticks, or a
//! counter that updates less often than the window is long. Components are
//! independent sensors or models, so the total's band is the root sum of
//! squares of the components' (GUM, JCGM 100:2008, for uncorrelated inputs).

use serde::Serialize;

/// A method's relative band: the truth lies within
/// `[value × (1 − below), value × (1 + above)]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MethodBand {
    pub method: &'static str,
    pub below: f64,
    pub above: f64,
    /// Where the figure comes from, or that it is our stated assumption.
    pub source: &'static str,
}

/// The bands of every method the meter uses.
pub const METHOD_BANDS: [MethodBand; 6] = [
    MethodBand {
        method: "rapl",
        below: 0.10,
        above: 0.10,
        source: "assumption: RAPL tracks plug power closely (Khan et al. 2018, ACM TOMPECS 3(2); Hackenberg et al. 2015), and the CPU-time share assumes every busy CPU-second costs the same",
    },
    MethodBand {
        method: "os-energy",
        below: 0.25,
        above: 0.25,
        source: "assumption: Apple states no accuracy for ri_energy_nj (proc_pid_rusage), the energy macOS attributes to a process's threads from the SoC's energy model; ±25 % until compared with a wall meter",
    },
    MethodBand {
        method: "tdp-model",
        below: 0.50,
        above: 0.50,
        source: "assumption: TDP is a thermal design figure, not a measured draw; a busy core draws from about half to about the whole of its TDP share",
    },
    MethodBand {
        method: "ram-model",
        below: 0.50,
        above: 1.00,
        source: "assumption: 0.375 W/GB is one vendor figure (3 W per 8 GB module); DRAM power per GB varies about twofold by generation and load",
    },
    MethodBand {
        method: "nvml-energy",
        below: 0.05,
        above: 0.05,
        source: "NVML reference: power readings are accurate to within ±5 % (the only accuracy NVIDIA states); the counter updates every 20–100 ms (PETSc's PetscLogGpuEnergyMeter notes), added as one update period of the device's mean power",
    },
    MethodBand {
        method: "nvml-power",
        below: 0.05,
        above: 0.05,
        source: "NVML reference: ±5 %; on Ampere and newer a power reading is the mean of the last second, added as one second of the device's mean power; A100 and H100 sample only about 25 % of the time (Yang et al., SC24)",
    },
];

/// How often each counter updates, seconds: a window shorter than this is
/// flagged, and one period of mean power is added to the band.
pub fn update_period_s(method: &str) -> f64 {
    match method {
        "rapl" => 0.001,      // Intel SDM vol. 3B, RAPL: about every 1 ms
        "nvml-energy" => 0.1, // 20–100 ms: the slow end
        "nvml-power" => 1.0,  // Ampere and newer: a 1 s mean
        _ => 0.0,
    }
}

/// The band of `method`, or none (a method not in the table has no band,
/// which the tests rule out).
pub fn method_band(method: &str) -> Option<&'static MethodBand> {
    METHOD_BANDS.iter().find(|b| b.method == method)
}

/// A figure with its band, joules.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Banded {
    pub joules: f64,
    pub low_j: f64,
    pub high_j: f64,
}

impl Banded {
    /// `joules` by `method`, widened by `absolute_j` on both sides.
    pub fn of(method: &str, joules: f64, absolute_j: f64) -> Banded {
        let (below, above) = method_band(method).map_or((0.0, 0.0), |b| (b.below, b.above));
        Banded {
            joules,
            low_j: (joules * (1.0 - below) - absolute_j).max(0.0),
            high_j: joules * (1.0 + above) + absolute_j,
        }
    }

    /// The sum of independent parts: the deviations add in quadrature.
    pub fn combine(parts: &[Banded]) -> Banded {
        let joules: f64 = parts.iter().map(|p| p.joules).sum();
        let down = parts
            .iter()
            .map(|p| (p.joules - p.low_j).powi(2))
            .sum::<f64>()
            .sqrt();
        let up = parts
            .iter()
            .map(|p| (p.high_j - p.joules).powi(2))
            .sum::<f64>()
            .sqrt();
        Banded {
            joules,
            low_j: (joules - down).max(0.0),
            high_j: joules + up,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_has_a_band_and_a_source() {
        for m in [
            "rapl",
            "tdp-model",
            "ram-model",
            "nvml-energy",
            "nvml-power",
        ] {
            let b = method_band(m).expect(m);
            assert!(b.below > 0.0 && b.below < 1.0 && b.above > 0.0 && !b.source.is_empty());
        }
    }

    #[test]
    fn a_band_is_relative_plus_absolute_and_never_negative() {
        let b = Banded::of("tdp-model", 10.0, 1.0);
        assert_eq!((b.low_j, b.high_j), (4.0, 16.0));
        let tiny = Banded::of("nvml-energy", 0.1, 5.0);
        assert_eq!(tiny.low_j, 0.0);
    }

    #[test]
    fn independent_parts_add_in_quadrature() {
        let a = Banded {
            joules: 10.0,
            low_j: 7.0,
            high_j: 14.0,
        };
        let b = Banded {
            joules: 5.0,
            low_j: 1.0,
            high_j: 8.0,
        };
        let t = Banded::combine(&[a, b]);
        assert_eq!(t.joules, 15.0);
        assert!((t.low_j - (15.0 - 5.0)).abs() < 1e-12); // sqrt(3² + 4²)
        assert!((t.high_j - (15.0 + 5.0)).abs() < 1e-12); // sqrt(4² + 3²)
        assert!(t.high_j < a.high_j + b.high_j);
    }
}
