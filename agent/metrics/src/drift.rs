//! Drift between a reference distribution and the current one, both given
//! as counts over the same bins (a numeric column's quantile bins from the
//! reference, or the categories of a categorical one). Nothing here sees a
//! row: the counts come from any engine (docs/metrics.md, "Drift").
//!
//! The statistics are the binned ones, equal to scipy's on the same binned
//! data; for the Kolmogorov-Smirnov statistic and the Wasserstein distance,
//! [`ks`] and [`wasserstein`] also bound the value of the raw samples.

use statrs::distribution::{ChiSquared, ContinuousCDF};
use thiserror::Error;

/// Share a zero share is replaced by in the PSI, as Evidently does (its
/// `get_binned_data`): the logarithm of an empty bin is otherwise infinite.
/// Where a side's smallest non-zero share is at most this, a millionth of
/// that share instead.
pub const PSI_EMPTY_SHARE: f64 = 1e-4;

/// Why a drift statistic is undefined.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DriftError {
    #[error("the {0} data has no non-missing values to compare")]
    Empty(&'static str),
    #[error("the reference and the current data have {reference} and {current} bins")]
    Mismatch { reference: usize, current: usize },
    #[error("all values fall in one {0}: a test of homogeneity needs two")]
    OneBin(&'static str),
}

/// Counts over the same bins (or categories), in order.
#[derive(Debug, Clone, Copy)]
pub struct Pair<'a> {
    pub reference: &'a [u64],
    pub current: &'a [u64],
}

impl<'a> Pair<'a> {
    /// The pair, checked: the same bins, and values on both sides.
    pub fn new(reference: &'a [u64], current: &'a [u64]) -> Result<Pair<'a>, DriftError> {
        if reference.len() != current.len() {
            return Err(DriftError::Mismatch {
                reference: reference.len(),
                current: current.len(),
            });
        }
        if reference.iter().sum::<u64>() == 0 {
            return Err(DriftError::Empty("reference"));
        }
        if current.iter().sum::<u64>() == 0 {
            return Err(DriftError::Empty("current"));
        }
        Ok(Pair { reference, current })
    }

    fn totals(&self) -> (f64, f64) {
        (
            self.reference.iter().sum::<u64>() as f64,
            self.current.iter().sum::<u64>() as f64,
        )
    }

    /// Each side's shares of its total.
    fn shares(&self) -> (Vec<f64>, Vec<f64>) {
        let (r, c) = self.totals();
        (
            self.reference.iter().map(|&x| x as f64 / r).collect(),
            self.current.iter().map(|&x| x as f64 / c).collect(),
        )
    }
}

/// Population stability index: Σ (q − p) ln(q / p) over the bins, p the
/// reference's share and q the current's, a zero share replaced as
/// Evidently's `psi_stat_test` does ([`PSI_EMPTY_SHARE`]).
pub fn psi(pair: Pair<'_>) -> f64 {
    let (p, q) = pair.shares();
    let (p, q) = (fill_empty(p), fill_empty(q));
    p.iter()
        .zip(&q)
        .map(|(&p, &q)| (q - p) * (q / p).ln())
        .sum()
}

/// One side's shares with each zero replaced by [`PSI_EMPTY_SHARE`], or a
/// millionth of the smallest non-zero share where that is no larger.
fn fill_empty(mut shares: Vec<f64>) -> Vec<f64> {
    let smallest = shares
        .iter()
        .copied()
        .filter(|s| *s > 0.0)
        .fold(f64::INFINITY, f64::min);
    let fill = if smallest <= PSI_EMPTY_SHARE {
        smallest / 1e6
    } else {
        PSI_EMPTY_SHARE
    };
    for s in &mut shares {
        if *s == 0.0 {
            *s = fill;
        }
    }
    shares
}

/// Jensen-Shannon distance, natural logarithm (scipy's `jensenshannon`):
/// √((KL(p‖m) + KL(q‖m)) / 2), m = (p + q) / 2; between 0 and √(ln 2).
pub fn jensen_shannon_distance(pair: Pair<'_>) -> f64 {
    let (p, q) = pair.shares();
    let kl = |a: &[f64], m: &[f64]| -> f64 {
        a.iter()
            .zip(m)
            .filter(|(&a, _)| a > 0.0)
            .map(|(&a, &m)| a * (a / m).ln())
            .sum::<f64>()
    };
    let m: Vec<f64> = p.iter().zip(&q).map(|(a, b)| (a + b) / 2.0).collect();
    ((kl(&p, &m) + kl(&q, &m)) / 2.0).max(0.0).sqrt()
}

/// Pearson's chi-squared test of homogeneity on the 2 × k table of the
/// two samples' counts (bins empty on both sides left out), without a
/// continuity correction: scipy's `chi2_contingency(table, correction=False)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChiSquaredTest {
    pub statistic: f64,
    pub dof: usize,
    pub p_value: f64,
}

pub fn chi2_homogeneity(pair: Pair<'_>) -> Result<ChiSquaredTest, DriftError> {
    let (r, c) = pair.totals();
    let n = r + c;
    let cells: Vec<(f64, f64)> = pair
        .reference
        .iter()
        .zip(pair.current)
        .filter(|(&a, &b)| a + b > 0)
        .map(|(&a, &b)| (a as f64, b as f64))
        .collect();
    if cells.len() < 2 {
        return Err(DriftError::OneBin("bin or category"));
    }
    let statistic: f64 = cells
        .iter()
        .map(|&(a, b)| {
            let col = a + b;
            let (ea, eb) = (r * col / n, c * col / n);
            (a - ea).powi(2) / ea + (b - eb).powi(2) / eb
        })
        .sum();
    let dof = cells.len() - 1;
    let p_value = ChiSquared::new(dof as f64)
        .map(|d| d.sf(statistic))
        .unwrap_or(f64::NAN);
    Ok(ChiSquaredTest {
        statistic,
        dof,
        p_value,
    })
}

/// The two-sample Kolmogorov-Smirnov statistic over ordered bins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ks {
    /// max |F_ref − F_cur| at the bins' upper edges: scipy's `ks_2samp` on
    /// the samples with each value replaced by its bin. It is also the
    /// least the raw samples' statistic can be.
    pub statistic: f64,
    /// The most the raw samples' statistic can be: inside a bin each CDF
    /// lies between its values at the bin's edges.
    pub upper: f64,
    /// The asymptotic p-value: the Kolmogorov distribution's survival
    /// function at √(nm/(n+m)) · D (scipy's `kstwobign.sf`).
    pub p_value: f64,
}

pub fn ks(pair: Pair<'_>) -> Ks {
    let (r, c) = pair.totals();
    let (mut fr, mut fc) = (0.0_f64, 0.0_f64);
    let (mut statistic, mut upper) = (0.0_f64, 0.0_f64);
    for (&a, &b) in pair.reference.iter().zip(pair.current) {
        let (fr_next, fc_next) = (fr + a as f64 / r, fc + b as f64 / c);
        upper = upper.max(fr_next - fc).max(fc_next - fr);
        statistic = statistic.max((fr_next - fc_next).abs());
        (fr, fc) = (fr_next, fc_next);
    }
    let en = r * c / (r + c);
    Ks {
        statistic,
        upper: upper.min(1.0),
        p_value: kolmogorov_sf(en.sqrt() * statistic),
    }
}

/// P(K > λ) for the Kolmogorov distribution (the limit of √n · D_n):
/// 2 Σ_{k≥1} (−1)^{k−1} e^{−2k²λ²}, or for small λ, where that series
/// converges slowly, one minus the Jacobi form
/// √(2π)/λ Σ_{k≥1} e^{−(2k−1)²π²/(8λ²)}.
pub fn kolmogorov_sf(lambda: f64) -> f64 {
    if lambda <= 0.0 {
        return 1.0;
    }
    if lambda < 1.0 {
        let mut cdf = 0.0;
        for k in 1..=20 {
            let odd = (2 * k - 1) as f64;
            cdf += (-(odd * odd) * std::f64::consts::PI.powi(2) / (8.0 * lambda * lambda)).exp();
        }
        return (1.0 - (2.0 * std::f64::consts::PI).sqrt() / lambda * cdf).clamp(0.0, 1.0);
    }
    let mut sf = 0.0;
    for k in 1..=100 {
        let k = k as f64;
        let term = (-2.0 * k * k * lambda * lambda).exp();
        sf += if k as u64 % 2 == 1 { term } else { -term };
        if term < 1e-300 {
            break;
        }
    }
    (2.0 * sf).clamp(0.0, 1.0)
}

/// A numeric bin of one sample: its rows, the sum of its values, and its
/// smallest and largest value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BinStats {
    pub n: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

/// The Wasserstein-1 distance between the samples binned, each bin's rows
/// placed at the bin's mean (scipy's `wasserstein_distance(means_r,
/// means_c, counts_r, counts_c)`), and how far the raw samples' distance
/// can be from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wasserstein {
    pub distance: f64,
    /// The raw samples' distance lies within `distance ± slack`: moving a
    /// bin's rows to its mean moves each by at most the bin's range, so
    /// slack = Σ p_i (max_i − min_i) + Σ q_i (max_i − min_i).
    pub slack: f64,
}

pub fn wasserstein(
    reference: &[BinStats],
    current: &[BinStats],
) -> Result<Wasserstein, DriftError> {
    let points = |bins: &[BinStats], side: &'static str| -> Result<Vec<(f64, f64)>, DriftError> {
        let total: u64 = bins.iter().map(|b| b.n).sum();
        if total == 0 {
            return Err(DriftError::Empty(side));
        }
        let mut points: Vec<(f64, f64)> = bins
            .iter()
            .filter(|b| b.n > 0)
            .map(|b| (b.sum / b.n as f64, b.n as f64 / total as f64))
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ok(points)
    };
    let (u, v) = (points(reference, "reference")?, points(current, "current")?);
    let slack = |bins: &[BinStats]| -> f64 {
        let total: u64 = bins.iter().map(|b| b.n).sum();
        bins.iter()
            .filter(|b| b.n > 0)
            .map(|b| b.n as f64 / total as f64 * (b.max - b.min))
            .sum()
    };
    // ∫ |F_u − F_v| over the merged support, as scipy's `_cdf_distance`.
    let mut xs: Vec<f64> = u.iter().chain(&v).map(|p| p.0).collect();
    xs.sort_by(f64::total_cmp);
    let cdf = |points: &[(f64, f64)], x: f64| -> f64 {
        points
            .iter()
            .take_while(|p| p.0 <= x)
            .map(|p| p.1)
            .sum::<f64>()
    };
    let distance = xs
        .windows(2)
        .map(|w| (cdf(&u, w[0]) - cdf(&v, w[0])).abs() * (w[1] - w[0]))
        .sum();
    Ok(Wasserstein {
        distance,
        slack: slack(reference) + slack(current),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair<'a>(r: &'a [u64], c: &'a [u64]) -> Pair<'a> {
        Pair::new(r, c).unwrap()
    }

    #[test]
    fn identical_distributions_do_not_drift() {
        let p = pair(&[10, 20, 30], &[1, 2, 3]);
        assert!(psi(p).abs() < 1e-15);
        assert!(jensen_shannon_distance(p) < 1e-7);
        assert_eq!(ks(p).statistic, 0.0);
        let chi = chi2_homogeneity(p).unwrap();
        assert!(chi.statistic.abs() < 1e-12 && (chi.p_value - 1.0).abs() < 1e-12);
    }

    #[test]
    fn hand_computed_values() {
        // Shares p = (0.5, 0.5), q = (0.25, 0.75).
        let p = pair(&[2, 2], &[1, 3]);
        let expected = (0.25 - 0.5) * (0.5f64).ln() + (0.75 - 0.5) * (1.5f64).ln();
        assert!((psi(p) - expected).abs() < 1e-15);
        let k = ks(p);
        assert_eq!(k.statistic, 0.25);
        // Within the first bin F_ref can reach 0.5 while F_cur is still 0.
        assert_eq!(k.upper, 0.75);
        // Disjoint samples: the distance is 1 and JS √(ln 2).
        let disjoint = pair(&[5, 0], &[0, 5]);
        assert!((jensen_shannon_distance(disjoint) - 2f64.ln().sqrt()).abs() < 1e-15);
        assert_eq!(ks(disjoint).statistic, 1.0);
    }

    #[test]
    fn an_empty_bin_on_one_side_uses_the_small_share() {
        let p = pair(&[1, 1], &[2, 0]);
        let expected = (1.0 - 0.5) * (1.0f64 / 0.5).ln() + (1e-4 - 0.5) * (1e-4f64 / 0.5).ln();
        assert!((psi(p) - expected).abs() < 1e-12);
    }

    #[test]
    fn undefined_cases_are_errors() {
        assert_eq!(
            Pair::new(&[0, 0], &[1, 2]).unwrap_err(),
            DriftError::Empty("reference")
        );
        assert!(Pair::new(&[1], &[1, 2]).is_err());
        assert!(chi2_homogeneity(pair(&[3, 0], &[4, 0])).is_err());
    }

    #[test]
    fn kolmogorov_forms_agree_where_they_meet() {
        // scipy.stats.kstwobign.sf(1.0) = 0.26999967167735456
        assert!((kolmogorov_sf(1.0) - 0.269_999_671_677_354_56).abs() < 1e-12);
        // kstwobign.sf(0.5) = 0.9639452436648751
        assert!((kolmogorov_sf(0.5) - 0.963_945_243_664_875_1).abs() < 1e-12);
        assert!((kolmogorov_sf(0.999_999) - kolmogorov_sf(1.000_001)).abs() < 1e-5);
        assert_eq!(kolmogorov_sf(0.0), 1.0);
    }

    #[test]
    fn wasserstein_of_shifted_points_is_the_shift() {
        let bins = |xs: &[f64]| -> Vec<BinStats> {
            xs.iter()
                .map(|&x| BinStats {
                    n: 1,
                    sum: x,
                    min: x,
                    max: x,
                })
                .collect()
        };
        let w = wasserstein(&bins(&[0.0, 1.0, 2.0]), &bins(&[0.5, 1.5, 2.5])).unwrap();
        assert!((w.distance - 0.5).abs() < 1e-15);
        assert_eq!(w.slack, 0.0);
    }
}
