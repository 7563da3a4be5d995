//! Metric values from count tables.
//!
//! Each function returns the value and the per-group breakdown that explains
//! it, or a [`MetricError`] when the metric is undefined on the data. An
//! undefined metric is never turned into a number that could pass a
//! threshold: fairlearn reports a TPR of 0 for a group without positives, we
//! report the reason instead (see `docs/metrics.md`).

use serde::Serialize;
use thiserror::Error;

use crate::catalog::{Family, MetricKey};
use crate::table::{BinaryCounts, ClassCounts, GroupTable, OutcomeCounts};

/// Why a metric has no value on the data it was given.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MetricError {
    #[error("no rows to evaluate")]
    Empty,
    #[error(
        "only one group ({group:?}) in the data: a comparison between groups needs at least two"
    )]
    OneGroup { group: String },
    #[error("group {group:?} has no rows whose target is positive, so its true positive rate is undefined")]
    NoLabelPositives { group: String },
    #[error("group {group:?} has no rows whose target is negative, so its false positive rate is undefined")]
    NoLabelNegatives { group: String },
    #[error("group {group:?} has no positive predictions, so its precision is undefined")]
    NoPredictedPositives { group: String },
    #[error("{what} is 0/0: {why}")]
    ZeroDenominator { what: &'static str, why: String },
    #[error("the target has a single class ({class:?}): class balance needs at least two")]
    OneClass { class: String },
    #[error("metric {metric} cannot be computed from a {table} table")]
    WrongTable {
        metric: MetricKey,
        table: &'static str,
    },
}

pub use venturalitica_vocab::results::GroupBreakdown;

/// A computed metric: the value compared with the threshold, and its evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricValue {
    pub value: f64,
    pub groups: Vec<GroupBreakdown>,
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

fn min_max(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

fn require_two_groups<C>(table: &GroupTable<C>) -> Result<(), MetricError> {
    match table.groups.as_slice() {
        [] => Err(MetricError::Empty),
        [(g, _)] => Err(MetricError::OneGroup { group: g.clone() }),
        _ => Ok(()),
    }
}

/// Positive rate per group.
pub fn outcome_breakdown(table: &GroupTable<OutcomeCounts>) -> Vec<GroupBreakdown> {
    table
        .groups
        .iter()
        .map(|(g, c)| GroupBreakdown {
            group: g.clone(),
            n: c.n,
            positives: Some(c.positives),
            counts: None,
            rates: venturalitica_vocab::results::rates([(
                "positive_rate",
                ratio(c.positives, c.n),
            )]),
        })
        .collect()
}

/// Metrics of the outcome-rate family.
pub fn outcome_metric(
    key: MetricKey,
    table: &GroupTable<OutcomeCounts>,
) -> Result<MetricValue, MetricError> {
    let value = outcome_value(key, table)?;
    Ok(MetricValue {
        value,
        groups: outcome_breakdown(table),
    })
}

/// The value alone; the bootstrap calls this once per resample.
pub fn outcome_value(
    key: MetricKey,
    table: &GroupTable<OutcomeCounts>,
) -> Result<f64, MetricError> {
    if key.family() != Family::OutcomeRate {
        return Err(MetricError::WrongTable {
            metric: key,
            table: "outcome",
        });
    }
    let total: u64 = table.groups.iter().map(|(_, c)| c.n).sum();
    if total == 0 {
        return Err(MetricError::Empty);
    }
    if key == MetricKey::SelectionRate {
        let pos: u64 = table.groups.iter().map(|(_, c)| c.positives).sum();
        return Ok(pos as f64 / total as f64);
    }
    require_two_groups(table)?;
    // Every group comes from at least one row, so n > 0 and the rate exists.
    let rates: Vec<f64> = table
        .groups
        .iter()
        .map(|(_, c)| c.positives as f64 / c.n.max(1) as f64)
        .collect();
    let (lo, hi) = min_max(&rates);
    match key {
        MetricKey::DisparateImpact if hi == 0.0 => Err(MetricError::ZeroDenominator {
            what: "disparate impact",
            why: "no group has a positive outcome".into(),
        }),
        MetricKey::DisparateImpact => Ok(lo / hi),
        MetricKey::DemographicParityDiff => Ok(hi - lo),
        MetricKey::GroupMinPositiveRate => Ok(lo),
        _ => Err(MetricError::WrongTable {
            metric: key,
            table: "outcome",
        }),
    }
}

/// TPR, FPR and precision per group.
pub fn binary_breakdown(table: &GroupTable<BinaryCounts>) -> Vec<GroupBreakdown> {
    table
        .groups
        .iter()
        .map(|(g, c)| GroupBreakdown {
            group: g.clone(),
            n: c.n(),
            positives: None,
            counts: Some(*c),
            rates: venturalitica_vocab::results::rates([
                ("selection_rate", ratio(c.predicted_positives(), c.n())),
                ("true_positive_rate", ratio(c.tp, c.label_positives())),
                ("false_positive_rate", ratio(c.fp, c.label_negatives())),
                ("precision", ratio(c.tp, c.predicted_positives())),
                ("accuracy", ratio(c.tp + c.tn, c.n())),
            ]),
        })
        .collect()
}

/// Metrics of the error-rate and performance families.
pub fn binary_metric(
    key: MetricKey,
    table: &GroupTable<BinaryCounts>,
) -> Result<MetricValue, MetricError> {
    let value = binary_value(key, table)?;
    Ok(MetricValue {
        value,
        groups: binary_breakdown(table),
    })
}

fn per_group(
    table: &GroupTable<BinaryCounts>,
    rate: impl Fn(&str, &BinaryCounts) -> Result<f64, MetricError>,
) -> Result<Vec<f64>, MetricError> {
    table.groups.iter().map(|(g, c)| rate(g, c)).collect()
}

fn tpr(g: &str, c: &BinaryCounts) -> Result<f64, MetricError> {
    ratio(c.tp, c.label_positives())
        .ok_or_else(|| MetricError::NoLabelPositives { group: g.into() })
}

fn fpr(g: &str, c: &BinaryCounts) -> Result<f64, MetricError> {
    ratio(c.fp, c.label_negatives())
        .ok_or_else(|| MetricError::NoLabelNegatives { group: g.into() })
}

fn ppv(g: &str, c: &BinaryCounts) -> Result<f64, MetricError> {
    ratio(c.tp, c.predicted_positives())
        .ok_or_else(|| MetricError::NoPredictedPositives { group: g.into() })
}

fn ratio_of(lo: f64, hi: f64, what: &'static str) -> Result<f64, MetricError> {
    if hi == 0.0 {
        Err(MetricError::ZeroDenominator {
            what,
            why: "the rate is 0 in every group".into(),
        })
    } else {
        Ok(lo / hi)
    }
}

/// How precision, recall and F1 combine the two classes (scikit-learn's
/// `average`): the positive class only (`binary`, the default), the mean
/// of both classes' values (`macro`), that mean weighted by each class's
/// rows in the target (`weighted`), or pooled counts (`micro`, which for
/// one label per row is the accuracy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Average {
    #[default]
    Binary,
    Macro,
    Weighted,
    Micro,
}

impl Average {
    pub const ALL: [Average; 4] = [
        Average::Binary,
        Average::Macro,
        Average::Weighted,
        Average::Micro,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Average::Binary => "binary",
            Average::Macro => "macro",
            Average::Weighted => "weighted",
            Average::Micro => "micro",
        }
    }

    pub fn parse(s: &str) -> Option<Average> {
        Average::ALL.into_iter().find(|a| a.name() == s.trim())
    }
}

/// A performance metric averaged over the two classes.
pub fn averaged_value(
    key: MetricKey,
    average: Average,
    table: &GroupTable<BinaryCounts>,
) -> Result<f64, MetricError> {
    let all = table.pooled();
    let of = |c: BinaryCounts| binary_value(key, &GroupTable::new(vec![("(all)".into(), c)]));
    // The negative class seen as the positive one.
    let negative = BinaryCounts {
        tp: all.tn,
        tn: all.tp,
        fp: all.fn_,
        fn_: all.fp,
    };
    match average {
        Average::Binary => binary_value(key, table),
        Average::Micro => binary_value(MetricKey::Accuracy, table),
        Average::Macro => Ok((of(all)? + of(negative)?) / 2.0),
        Average::Weighted => {
            let (w1, w0) = (all.label_positives() as f64, all.label_negatives() as f64);
            Ok((of(all)? * w1 + of(negative)? * w0) / (w1 + w0))
        }
    }
}

/// The value alone; the bootstrap calls this once per resample.
pub fn binary_value(key: MetricKey, table: &GroupTable<BinaryCounts>) -> Result<f64, MetricError> {
    match key.family() {
        Family::Performance => {
            let all = table.pooled();
            if all.n() == 0 {
                return Err(MetricError::Empty);
            }
            let zero = |what| MetricError::ZeroDenominator {
                what,
                why: "no rows are positive in the target or the prediction".into(),
            };
            match key {
                MetricKey::Accuracy => Ok((all.tp + all.tn) as f64 / all.n() as f64),
                MetricKey::Precision => ratio(all.tp, all.predicted_positives()).ok_or(
                    MetricError::NoPredictedPositives {
                        group: "(all)".into(),
                    },
                ),
                MetricKey::Recall => {
                    ratio(all.tp, all.label_positives()).ok_or(MetricError::NoLabelPositives {
                        group: "(all)".into(),
                    })
                }
                MetricKey::F1 => ratio(2 * all.tp, 2 * all.tp + all.fp + all.fn_).ok_or(zero("f1")),
                _ => Err(MetricError::WrongTable {
                    metric: key,
                    table: "binary",
                }),
            }
        }
        Family::ErrorRate => {
            require_two_groups(table)?;
            match key {
                MetricKey::EqualOpportunityDiff => {
                    let (lo, hi) = min_max(&per_group(table, tpr)?);
                    Ok(hi - lo)
                }
                MetricKey::EqualizedOddsDiff => {
                    let (tlo, thi) = min_max(&per_group(table, tpr)?);
                    let (flo, fhi) = min_max(&per_group(table, fpr)?);
                    Ok((thi - tlo).max(fhi - flo))
                }
                MetricKey::EqualizedOddsRatio => {
                    let (tlo, thi) = min_max(&per_group(table, tpr)?);
                    let (flo, fhi) = min_max(&per_group(table, fpr)?);
                    let t = ratio_of(tlo, thi, "true positive rate ratio")?;
                    let f = ratio_of(flo, fhi, "false positive rate ratio")?;
                    Ok(t.min(f))
                }
                MetricKey::PredictiveEqualityDiff => {
                    let (lo, hi) = min_max(&per_group(table, fpr)?);
                    Ok(hi - lo)
                }
                MetricKey::PredictiveParity => {
                    let (lo, hi) = min_max(&per_group(table, ppv)?);
                    Ok(hi - lo)
                }
                _ => Err(MetricError::WrongTable {
                    metric: key,
                    table: "binary",
                }),
            }
        }
        _ => Err(MetricError::WrongTable {
            metric: key,
            table: "binary",
        }),
    }
}

/// Class balance of the target: rarest class count / commonest class count.
pub fn class_imbalance(counts: &ClassCounts) -> Result<MetricValue, MetricError> {
    let value = class_imbalance_value(counts)?;
    let total: u64 = counts.classes.iter().map(|(_, n)| n).sum();
    let groups = counts
        .classes
        .iter()
        .map(|(class, n)| GroupBreakdown {
            group: class.clone(),
            n: *n,
            positives: None,
            counts: None,
            rates: venturalitica_vocab::results::rates([("share", ratio(*n, total))]),
        })
        .collect();
    Ok(MetricValue { value, groups })
}

pub fn class_imbalance_value(counts: &ClassCounts) -> Result<f64, MetricError> {
    let present: Vec<u64> = counts
        .classes
        .iter()
        .map(|(_, n)| *n)
        .filter(|&n| n > 0)
        .collect();
    match present.as_slice() {
        [] => Err(MetricError::Empty),
        [_] => Err(MetricError::OneClass {
            class: counts
                .classes
                .iter()
                .find(|(_, n)| *n > 0)
                .map(|(c, _)| c.clone())
                .unwrap_or_default(),
        }),
        _ => {
            let lo = present.iter().min().copied().unwrap_or(0);
            let hi = present.iter().max().copied().unwrap_or(1);
            Ok(lo as f64 / hi as f64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn outcome(groups: &[(&str, u64, u64)]) -> GroupTable<OutcomeCounts> {
        GroupTable::new(
            groups
                .iter()
                .map(|&(g, n, positives)| (g.to_string(), OutcomeCounts { n, positives }))
                .collect(),
        )
    }

    /// The hand-check vector from the design: sex, y, ŷ.
    fn design_vector() -> GroupTable<BinaryCounts> {
        let sex = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
        let y = [1, 1, 0, 0, 1, 1, 0, 0, 0, 1];
        let yhat = [1, 1, 1, 0, 1, 0, 0, 1, 0, 1];
        let mut by: BTreeMap<String, BinaryCounts> = BTreeMap::new();
        for i in 0..10 {
            let c = by.entry(sex[i].to_string()).or_default();
            match (y[i], yhat[i]) {
                (1, 1) => c.tp += 1,
                (0, 1) => c.fp += 1,
                (0, 0) => c.tn += 1,
                _ => c.fn_ += 1,
            }
        }
        GroupTable::new(by.into_iter().collect())
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "expected {b}, got {a}");
    }

    #[test]
    fn design_hand_check_vector() {
        let t = design_vector();
        let sel = t.selection_counts();
        close(
            outcome_value(MetricKey::DemographicParityDiff, &sel).unwrap(),
            0.4,
        );
        close(
            outcome_value(MetricKey::DisparateImpact, &sel).unwrap(),
            0.5,
        );
        close(binary_value(MetricKey::EqualizedOddsDiff, &t).unwrap(), 0.5);
        close(
            binary_value(MetricKey::EqualOpportunityDiff, &t).unwrap(),
            0.5,
        );
    }

    #[test]
    fn disparate_impact_is_min_over_max() {
        let t = outcome(&[("a", 10, 8), ("b", 10, 4), ("c", 5, 3)]);
        close(outcome_value(MetricKey::DisparateImpact, &t).unwrap(), 0.5);
        close(
            outcome_value(MetricKey::GroupMinPositiveRate, &t).unwrap(),
            0.4,
        );
        close(
            outcome_value(MetricKey::SelectionRate, &t).unwrap(),
            15.0 / 25.0,
        );
    }

    #[test]
    fn one_group_is_an_error_not_a_perfect_score() {
        let t = outcome(&[("only", 10, 5)]);
        assert_eq!(
            outcome_value(MetricKey::DisparateImpact, &t),
            Err(MetricError::OneGroup {
                group: "only".into()
            })
        );
    }

    #[test]
    fn no_positive_outcomes_anywhere_is_zero_over_zero() {
        let t = outcome(&[("a", 10, 0), ("b", 10, 0)]);
        assert!(matches!(
            outcome_value(MetricKey::DisparateImpact, &t),
            Err(MetricError::ZeroDenominator { .. })
        ));
        close(
            outcome_value(MetricKey::DemographicParityDiff, &t).unwrap(),
            0.0,
        );
    }

    #[test]
    fn group_without_positives_makes_tpr_metrics_errors() {
        let t = GroupTable::new(vec![
            (
                "a".into(),
                BinaryCounts {
                    tp: 3,
                    fp: 1,
                    tn: 4,
                    fn_: 2,
                },
            ),
            (
                "b".into(),
                BinaryCounts {
                    tp: 0,
                    fp: 2,
                    tn: 5,
                    fn_: 0,
                },
            ),
        ]);
        assert_eq!(
            binary_value(MetricKey::EqualOpportunityDiff, &t),
            Err(MetricError::NoLabelPositives { group: "b".into() })
        );
        assert!(binary_value(MetricKey::EqualizedOddsRatio, &t).is_err());
    }

    #[test]
    fn performance_metrics_pool_the_groups() {
        let t = design_vector();
        // Pooled: tp=4, fp=2, tn=3, fn=1.
        close(binary_value(MetricKey::Accuracy, &t).unwrap(), 0.7);
        close(binary_value(MetricKey::Precision, &t).unwrap(), 4.0 / 6.0);
        close(binary_value(MetricKey::Recall, &t).unwrap(), 0.8);
        close(binary_value(MetricKey::F1, &t).unwrap(), 8.0 / 11.0);
    }

    #[test]
    fn class_imbalance_needs_two_classes() {
        let c = ClassCounts {
            classes: vec![("good".into(), 700), ("bad".into(), 300)],
        };
        close(class_imbalance_value(&c).unwrap(), 300.0 / 700.0);
        let one = ClassCounts {
            classes: vec![("good".into(), 7)],
        };
        assert_eq!(
            class_imbalance_value(&one),
            Err(MetricError::OneClass {
                class: "good".into()
            })
        );
    }
}
