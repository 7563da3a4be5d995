//! Drift controls: each feature's current counts over its reference's bins
//! (or categories), asked of the engine like any count table, and the
//! statistic over them (docs/metrics.md, "Drift").

use venturalitica_metrics::drift::{self, BinStats, Pair};
use venturalitica_metrics::{compute::MetricValue, GroupBreakdown, MetricKey, Slot};
use venturalitica_policy::Control;
use venturalitica_vocab::results::{rates, DriftInfo};

use crate::counts::Counter;
use crate::reference::{self, Bin, ColumnSummary, References};

use super::compute::Computed;
use super::plan::Plan;

/// `drifted_share`'s significance level unless the control gives `alpha`.
pub const DEFAULT_ALPHA: f64 = 0.05;

/// Bins a numeric feature's reference bins are merged into for the PSI,
/// Jensen-Shannon distance and chi-squared test unless `drift_bins` says.
pub const DEFAULT_DRIFT_BINS: usize = 10;

/// One feature's statistic.
struct FeatureDrift {
    value: f64,
    /// Rows of the current data with a value.
    rows: u64,
    /// For `drifted_share`: whether the feature's own test drifts.
    tested_drift: Option<bool>,
    raw_bounds: Option<[f64; 2]>,
}

pub(super) fn compute(
    control: &Control,
    plan: &Plan,
    src: &dyn Counter,
    references: &References,
) -> Result<Computed, String> {
    let (name, sha256, reference) = references.get(plan.params.reference.as_deref())?;
    let features = plan
        .columns
        .get(&Slot::Feature)
        .filter(|f| !f.is_empty())
        .ok_or("a drift metric needs input.feature")?;
    let key = plan.key;
    let mut groups = Vec::with_capacity(features.len());
    let mut drifted = Vec::new();
    let mut values = Vec::with_capacity(features.len());
    let mut raw_bounds = None;
    // Every feature is asked before an error returns: an engine that counts
    // elsewhere answers one round for all of them.
    let computed: Vec<Result<FeatureDrift, String>> = features
        .iter()
        .map(|feature| {
            let summary = reference.columns.get(feature).ok_or_else(|| {
                format!(
                    "reference {name:?} has no column {feature:?}; it has: {}",
                    reference
                        .columns
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
            feature_drift(key, summary, src, feature, plan)
                .map_err(|e| format!("feature {feature:?} against reference {name:?}: {e}"))
        })
        .collect();
    for (feature, result) in features.iter().zip(computed) {
        let f = result?;
        let moved = match f.tested_drift {
            Some(by_test) => by_test,
            None => !control.operator.holds(f.value, control.threshold),
        };
        if moved {
            drifted.push(feature.clone());
        }
        groups.push(GroupBreakdown {
            group: feature.clone(),
            n: f.rows,
            positives: None,
            counts: None,
            rates: rates([
                // drifted_share's features carry their own test's p-value.
                (
                    if f.tested_drift.is_some() {
                        "p_value"
                    } else {
                        key.name()
                    },
                    Some(f.value),
                ),
                ("drifted", Some(if moved { 1.0 } else { 0.0 })),
            ]),
        });
        values.push(f.value);
        raw_bounds = f.raw_bounds;
    }
    let value = if key == MetricKey::DriftedShare {
        drifted.len() as f64 / features.len() as f64
    } else if key.sense().is_some_and(|s| s.lower_is_better) {
        values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    } else {
        values.iter().copied().fold(f64::INFINITY, f64::min)
    };
    Ok(Computed {
        value: MetricValue { value, groups },
        ci: None,
        drift: Some(DriftInfo {
            reference: name.to_string(),
            reference_sha256: sha256.to_string(),
            drifted,
            // Bounds say something of one feature's statistic only.
            raw_bounds: raw_bounds.filter(|_| features.len() == 1),
        }),
    })
}

fn feature_drift(
    key: MetricKey,
    summary: &ColumnSummary,
    src: &dyn Counter,
    feature: &str,
    plan: &Plan,
) -> Result<FeatureDrift, String> {
    let err = |e: drift::DriftError| e.to_string();
    match summary {
        ColumnSummary::Numeric { edges, bins, .. } => {
            if bins.iter().all(|b| b.n == 0) {
                return Err("the reference has no non-missing values of it".into());
            }
            let current = reference::histogram(src, feature, edges)?;
            let (r, c) = (counts(bins), counts(&current));
            let rows = c.iter().sum();
            let coarse = |n: Option<usize>| {
                let k = n.unwrap_or(DEFAULT_DRIFT_BINS);
                (merge(&r, k), merge(&c, k))
            };
            let done = |value: f64, raw_bounds: Option<[f64; 2]>| FeatureDrift {
                value,
                rows,
                tested_drift: None,
                raw_bounds,
            };
            Ok(match key {
                MetricKey::KsStatistic => {
                    let ks = drift::ks(Pair::new(&r, &c).map_err(err)?);
                    done(ks.statistic, Some([ks.statistic, ks.upper]))
                }
                MetricKey::KsPValue => {
                    done(drift::ks(Pair::new(&r, &c).map_err(err)?).p_value, None)
                }
                MetricKey::WassersteinDistance => {
                    let w = drift::wasserstein(&stats(bins), &stats(&current)).map_err(err)?;
                    done(
                        w.distance,
                        Some([(w.distance - w.slack).max(0.0), w.distance + w.slack]),
                    )
                }
                MetricKey::Psi | MetricKey::JensenShannonDistance | MetricKey::Chi2PValue => {
                    let (r, c) = coarse(plan.params.drift_bins);
                    done(on_categories(key, Pair::new(&r, &c).map_err(err)?)?, None)
                }
                MetricKey::DriftedShare => {
                    let p = drift::ks(Pair::new(&r, &c).map_err(err)?).p_value;
                    tested(p, rows, plan)
                }
                other => return Err(format!("{other} is not a drift metric")),
            })
        }
        ColumnSummary::Categorical { categories, .. } => {
            let current = reference::categories(src, feature)?;
            // The reference's categories in order, then those it never saw.
            let mut names: Vec<&String> = categories.keys().collect();
            names.extend(current.keys().filter(|k| !categories.contains_key(*k)));
            let r: Vec<u64> = names
                .iter()
                .map(|k| categories.get(*k).copied().unwrap_or(0))
                .collect();
            let c: Vec<u64> = names
                .iter()
                .map(|k| current.get(*k).copied().unwrap_or(0))
                .collect();
            let rows = c.iter().sum();
            let pair = Pair::new(&r, &c).map_err(err)?;
            match key {
                MetricKey::KsStatistic | MetricKey::KsPValue | MetricKey::WassersteinDistance => Err(format!(
                    "{key} compares numeric values, and the reference holds {feature:?} as categories: use psi, jensen_shannon_distance or chi2_p_value"
                )),
                MetricKey::DriftedShare => {
                    let p = drift::chi2_homogeneity(pair).map_err(err)?.p_value;
                    Ok(tested(p, rows, plan))
                }
                _ => Ok(FeatureDrift {
                    value: on_categories(key, pair)?,
                    rows,
                    tested_drift: None,
                    raw_bounds: None,
                }),
            }
        }
    }
}

/// The PSI, Jensen-Shannon distance or chi-squared p-value of counts over
/// the same bins or categories.
fn on_categories(key: MetricKey, pair: Pair<'_>) -> Result<f64, String> {
    Ok(match key {
        MetricKey::Psi => drift::psi(pair),
        MetricKey::JensenShannonDistance => drift::jensen_shannon_distance(pair),
        _ => {
            drift::chi2_homogeneity(pair)
                .map_err(|e| e.to_string())?
                .p_value
        }
    })
}

/// A feature's test for `drifted_share`: drifted when `p < alpha`.
fn tested(p: f64, rows: u64, plan: &Plan) -> FeatureDrift {
    FeatureDrift {
        value: p,
        rows,
        tested_drift: Some(p < plan.params.alpha.unwrap_or(DEFAULT_ALPHA)),
        raw_bounds: None,
    }
}

fn counts(bins: &[Bin]) -> Vec<u64> {
    bins.iter().map(|b| b.n).collect()
}

fn stats(bins: &[Bin]) -> Vec<BinStats> {
    bins.iter()
        .filter(|b| b.n > 0)
        .map(|b| BinStats {
            n: b.n,
            sum: b.sum,
            min: b.min.unwrap_or(b.sum / b.n as f64),
            max: b.max.unwrap_or(b.sum / b.n as f64),
        })
        .collect()
}

/// `fine` counts merged into `k` runs of consecutive bins, run j holding
/// bins ⌊jF/k⌋ to ⌊(j+1)F/k⌋ − 1 of F: with the reference's quantile
/// bins, its quantile bins at 1/k, 2/k, ... (its deciles for k = 10 of 100).
fn merge(fine: &[u64], k: usize) -> Vec<u64> {
    let f = fine.len();
    let k = k.min(f).max(1);
    (0..k)
        .map(|j| fine[j * f / k..(j + 1) * f / k].iter().sum())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_runs_cover_every_bin_once() {
        let fine: Vec<u64> = (1..=100).collect();
        let deciles = merge(&fine, 10);
        assert_eq!(deciles.len(), 10);
        assert_eq!(deciles[0], (1..=10).sum::<u64>());
        assert_eq!(deciles.iter().sum::<u64>(), fine.iter().sum::<u64>());
        assert_eq!(merge(&[1, 2, 3], 10), vec![1, 2, 3]);
        assert_eq!(merge(&[1, 2, 3], 2), vec![1, 5]);
    }
}
