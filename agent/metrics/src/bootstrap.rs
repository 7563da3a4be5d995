//! Bootstrap confidence intervals by resampling the contingency table.
//!
//! A row-level bootstrap draws n rows with replacement; the counts of such a
//! sample over the table's cells (group × label × prediction) follow a
//! multinomial distribution with the observed cell shares as probabilities.
//! Drawing that multinomial directly (one binomial per cell) gives the same
//! distribution of every count-based metric at a cost that depends on the
//! number of cells, not rows: microseconds instead of seconds.

use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Binomial, Distribution};
use serde::Serialize;

use crate::table::{Cells, ClassCounts, GroupTable};

/// How to bootstrap: resamples, seed and interval level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BootstrapSpec {
    pub resamples: u32,
    pub seed: u64,
    /// Two-sided coverage, e.g. 0.95.
    pub level: f64,
}

impl Default for BootstrapSpec {
    fn default() -> Self {
        Self {
            resamples: 1000,
            seed: 42,
            level: 0.95,
        }
    }
}

pub use venturalitica_vocab::results::ConfidenceInterval;

/// One multinomial draw of `n` over the cells, written into `out`.
fn multinomial(rng: &mut StdRng, cells: &[u64], n: u64, out: &mut [u64]) {
    let mut remaining_n = n;
    let mut remaining_mass = n as f64;
    for (i, &c) in cells.iter().enumerate() {
        if remaining_n == 0 || c == 0 {
            out[i] = 0;
            continue;
        }
        let p = (c as f64 / remaining_mass).clamp(0.0, 1.0);
        out[i] = if p >= 1.0 {
            remaining_n
        } else {
            // p is in [0, 1), so the distribution always exists.
            Binomial::new(remaining_n, p)
                .map(|b| b.sample(rng))
                .unwrap_or(0)
        };
        remaining_n -= out[i];
        remaining_mass -= c as f64;
    }
}

/// Resamples a flat cell vector and collects the defined metric values.
pub fn resample_cells(
    cells: &[u64],
    spec: BootstrapSpec,
    mut value: impl FnMut(&[u64]) -> Option<f64>,
) -> (Vec<f64>, u32) {
    let n: u64 = cells.iter().sum();
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let mut draw = vec![0u64; cells.len()];
    let mut values = Vec::with_capacity(spec.resamples as usize);
    let mut undefined = 0;
    for _ in 0..spec.resamples {
        multinomial(&mut rng, cells, n, &mut draw);
        match value(&draw) {
            Some(v) if v.is_finite() => values.push(v),
            _ => undefined += 1,
        }
    }
    (values, undefined)
}

/// Percentile interval (linear interpolation, as numpy's default) of the
/// defined values; `None` when no resample had a value.
pub fn percentile_interval(
    mut values: Vec<f64>,
    undefined: u32,
    spec: BootstrapSpec,
) -> Option<ConfidenceInterval> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let alpha = (1.0 - spec.level) / 2.0;
    Some(ConfidenceInterval {
        lower: quantile(&values, alpha),
        upper: quantile(&values, 1.0 - alpha),
        level: spec.level,
        method: "percentile bootstrap, multinomial over the contingency table".into(),
        resamples: spec.resamples,
        seed: spec.seed,
        undefined_resamples: undefined,
    })
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Bootstrap interval of a metric on a group table. Groups that draw no rows
/// in a resample are left out of it, as they would be in a row bootstrap.
pub fn bootstrap_ci<C: Cells>(
    table: &GroupTable<C>,
    spec: BootstrapSpec,
    metric: impl Fn(&GroupTable<C>) -> Option<f64>,
) -> Option<ConfidenceInterval> {
    let mut cells = Vec::with_capacity(table.groups.len() * C::WIDTH);
    for (_, c) in &table.groups {
        c.write_cells(&mut cells);
    }
    let mut scratch = GroupTable {
        groups: Vec::with_capacity(table.groups.len()),
    };
    let (values, undefined) = resample_cells(&cells, spec, |draw| {
        scratch.groups.clear();
        for ((g, _), chunk) in table.groups.iter().zip(draw.chunks_exact(C::WIDTH)) {
            if chunk.iter().any(|&x| x > 0) {
                scratch.groups.push((g.clone(), C::read_cells(chunk)));
            }
        }
        metric(&scratch)
    });
    percentile_interval(values, undefined, spec)
}

/// Bootstrap interval of a metric on class counts.
pub fn bootstrap_classes(
    counts: &ClassCounts,
    spec: BootstrapSpec,
    metric: impl Fn(&ClassCounts) -> Option<f64>,
) -> Option<ConfidenceInterval> {
    let cells: Vec<u64> = counts.classes.iter().map(|(_, n)| *n).collect();
    let (values, undefined) = resample_cells(&cells, spec, |draw| {
        let resampled = ClassCounts {
            classes: counts
                .classes
                .iter()
                .zip(draw)
                .map(|((c, _), &n)| (c.clone(), n))
                .collect(),
        };
        metric(&resampled)
    });
    percentile_interval(values, undefined, spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::MetricKey;
    use crate::compute::outcome_value;
    use crate::table::OutcomeCounts;
    use rand::Rng;

    #[test]
    fn multinomial_draws_keep_the_total() {
        let mut rng = StdRng::seed_from_u64(1);
        let cells = [5, 0, 17, 3, 75];
        let mut out = [0; 5];
        for _ in 0..100 {
            multinomial(&mut rng, &cells, 100, &mut out);
            assert_eq!(out.iter().sum::<u64>(), 100);
            assert_eq!(out[1], 0, "an empty cell stays empty");
        }
    }

    #[test]
    fn same_seed_same_interval() {
        let t = GroupTable::new(vec![
            (
                "a".into(),
                OutcomeCounts {
                    n: 400,
                    positives: 300,
                },
            ),
            (
                "b".into(),
                OutcomeCounts {
                    n: 600,
                    positives: 330,
                },
            ),
        ]);
        let f = |t: &GroupTable<OutcomeCounts>| outcome_value(MetricKey::DisparateImpact, t).ok();
        let a = bootstrap_ci(&t, BootstrapSpec::default(), f).unwrap();
        let b = bootstrap_ci(&t, BootstrapSpec::default(), f).unwrap();
        assert_eq!(a, b);
        assert!(a.lower < 0.55 / 0.75 && 0.55 / 0.75 < a.upper, "{a:?}");
    }

    /// The table bootstrap and a row bootstrap of the same data agree in
    /// distribution: same mean and spread of disparate impact, within the
    /// Monte-Carlo error of 4000 resamples each.
    #[test]
    fn agrees_in_distribution_with_a_row_bootstrap() {
        let groups = [("a", 300u64, 210u64), ("b", 150, 60), ("c", 50, 30)];
        let table = GroupTable::new(
            groups
                .iter()
                .map(|&(g, n, p)| (g.to_string(), OutcomeCounts { n, positives: p }))
                .collect(),
        );
        let rows: Vec<(usize, bool)> = groups
            .iter()
            .enumerate()
            .flat_map(|(gi, &(_, n, p))| (0..n).map(move |i| (gi, i < p)))
            .collect();
        let spec = BootstrapSpec {
            resamples: 4000,
            seed: 7,
            level: 0.95,
        };
        let metric =
            |t: &GroupTable<OutcomeCounts>| outcome_value(MetricKey::DisparateImpact, t).ok();

        let mut cells = Vec::new();
        for (_, c) in &table.groups {
            c.write_cells(&mut cells);
        }
        let (table_values, _) = resample_cells(&cells, spec, |draw| {
            let t = GroupTable {
                groups: table
                    .groups
                    .iter()
                    .zip(draw.chunks_exact(2))
                    .filter(|(_, ch)| ch[0] + ch[1] > 0)
                    .map(|((g, _), ch)| (g.clone(), OutcomeCounts::read_cells(ch)))
                    .collect(),
            };
            metric(&t)
        });

        let mut rng = StdRng::seed_from_u64(99);
        let mut row_values = Vec::new();
        for _ in 0..spec.resamples {
            let mut counts = [OutcomeCounts::default(); 3];
            for _ in 0..rows.len() {
                let (g, pos) = rows[rng.random_range(0..rows.len())];
                counts[g].n += 1;
                counts[g].positives += u64::from(pos);
            }
            let t = GroupTable {
                groups: counts
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.n > 0)
                    .map(|(i, c)| (groups[i].0.to_string(), *c))
                    .collect(),
            };
            if let Some(v) = metric(&t) {
                row_values.push(v);
            }
        }

        let stats = |v: &[f64]| {
            let m = v.iter().sum::<f64>() / v.len() as f64;
            let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt();
            (m, sd)
        };
        let (tm, tsd) = stats(&table_values);
        let (rm, rsd) = stats(&row_values);
        // Standard error of a mean of 4000 draws is sd/63; allow 4 of them.
        assert!(
            (tm - rm).abs() < 4.0 * tsd / 63.0 * 2f64.sqrt(),
            "means {tm} vs {rm}"
        );
        // The sd of an sd estimate is about sd/sqrt(2n) = sd/89; allow 10 %.
        assert!((tsd - rsd).abs() / rsd < 0.10, "spreads {tsd} vs {rsd}");
        // And the 95 % quantiles agree to a few hundredths.
        let ti = percentile_interval(table_values, 0, spec).unwrap();
        let ri = percentile_interval(row_values, 0, spec).unwrap();
        assert!(
            (ti.lower - ri.lower).abs() < 0.03 && (ti.upper - ri.upper).abs() < 0.03,
            "{ti:?} {ri:?}"
        );
    }
}
