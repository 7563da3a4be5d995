//! Multi-class fairness: one-vs-rest rates per class and group, turned into
//! one disparity per class (max − min over groups) and aggregated over the
//! classes. docs/metrics.md has the formulas; the tests cross-check them
//! against fairlearn's `MetricFrame` on one-vs-rest labels.

use crate::bootstrap::{percentile_interval, resample_cells, BootstrapSpec, ConfidenceInterval};
use crate::catalog::MetricKey;
use crate::compute::{GroupBreakdown, MetricError, MetricValue};

/// Rows per (target class, predicted class), per group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfusionTable {
    /// Every label seen in the target or the prediction, sorted.
    pub classes: Vec<String>,
    /// Per group: `counts[t * k + p]` rows with target class `t` and
    /// predicted class `p` (`k` classes).
    pub groups: Vec<(String, Vec<u64>)>,
}

/// How per-class disparities become one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    /// The worst class.
    Max,
    /// The mean over classes.
    Macro,
    /// The mean weighted by each class's share of the rows the rate is
    /// conditioned on (predictions for selection rate and precision, the
    /// target for the true positive rate), as scikit-learn's `weighted`.
    Weighted,
    /// Counts pooled over classes per group first, then one disparity.
    Micro,
}

impl Aggregation {
    pub fn parse(s: &str) -> Option<Aggregation> {
        match s.trim().to_ascii_lowercase().as_str() {
            "max" | "worst" | "one-vs-rest" | "ovr" => Some(Aggregation::Max),
            "macro" => Some(Aggregation::Macro),
            "weighted" => Some(Aggregation::Weighted),
            "micro" => Some(Aggregation::Micro),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Aggregation::Max => "max",
            Aggregation::Macro => "macro",
            Aggregation::Weighted => "weighted",
            Aggregation::Micro => "micro",
        }
    }

    /// The aggregation a key uses when the policy names none.
    pub fn default_for(key: MetricKey) -> Aggregation {
        match key {
            MetricKey::WeightedDemographicParityMulticlass => Aggregation::Weighted,
            MetricKey::MacroEqualOpportunityMulticlass => Aggregation::Macro,
            MetricKey::MicroEqualizedOddsMulticlass => Aggregation::Micro,
            _ => Aggregation::Max,
        }
    }

    /// The aggregations a key can use.
    pub fn allowed_for(key: MetricKey) -> &'static [Aggregation] {
        use Aggregation::*;
        match key {
            // Pooled over classes every group's selection rate is 1/k.
            MetricKey::MulticlassDemographicParity
            | MetricKey::WeightedDemographicParityMulticlass => &[Max, Macro, Weighted],
            MetricKey::MicroEqualizedOddsMulticlass => &[Micro],
            MetricKey::MulticlassConfusionMetrics => &[],
            _ => &[Max, Macro, Weighted, Micro],
        }
    }
}

/// One group's counts, read by class.
struct Group<'a> {
    name: &'a str,
    k: usize,
    counts: &'a [u64],
}

/// The groups that have rows (a bootstrap resample can draw none for one).
fn live_groups(table: &ConfusionTable) -> Vec<Group<'_>> {
    let k = table.classes.len();
    table
        .groups
        .iter()
        .filter(|(_, c)| c.iter().any(|n| *n > 0))
        .map(|(name, counts)| Group { name, k, counts })
        .collect()
}

impl Group<'_> {
    fn n(&self) -> u64 {
        self.counts.iter().sum()
    }
    fn tp(&self, c: usize) -> u64 {
        self.counts[c * self.k + c]
    }
    /// Rows whose target is `c`.
    fn actual(&self, c: usize) -> u64 {
        self.counts[c * self.k..(c + 1) * self.k].iter().sum()
    }
    /// Rows predicted `c`.
    fn predicted(&self, c: usize) -> u64 {
        (0..self.k).map(|t| self.counts[t * self.k + c]).sum()
    }
    fn correct(&self) -> u64 {
        (0..self.k).map(|c| self.tp(c)).sum()
    }
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// The one-vs-rest rate a key compares across groups.
#[derive(Clone, Copy)]
enum Rate {
    Selection,
    TruePositive,
    Precision,
}

impl Rate {
    fn of(key: MetricKey) -> Rate {
        match key {
            MetricKey::MulticlassDemographicParity
            | MetricKey::WeightedDemographicParityMulticlass => Rate::Selection,
            MetricKey::PredictiveParityMulticlass => Rate::Precision,
            _ => Rate::TruePositive,
        }
    }

    fn value(self, g: &Group<'_>, c: usize) -> Option<f64> {
        match self {
            Rate::Selection => ratio(g.predicted(c), g.n()),
            Rate::TruePositive => ratio(g.tp(c), g.actual(c)),
            Rate::Precision => ratio(g.tp(c), g.predicted(c)),
        }
    }

    fn undefined(self, group: &str, class: &str) -> MetricError {
        let why = match self {
            Rate::Selection => "it has no rows".to_string(),
            Rate::TruePositive => format!("no row of its target is class {class:?}"),
            Rate::Precision => format!("no row of it is predicted {class:?}"),
        };
        MetricError::ZeroDenominator {
            what: "multi-class rate",
            why: format!("group {group:?}: {why}"),
        }
    }

    /// Rows the rate is conditioned on, over every group: the weights.
    fn support(self, groups: &[Group<'_>], c: usize) -> u64 {
        groups
            .iter()
            .map(|g| match self {
                Rate::TruePositive => g.actual(c),
                Rate::Selection | Rate::Precision => g.predicted(c),
            })
            .sum()
    }
}

fn spread(values: &[f64]) -> f64 {
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    hi - lo
}

/// The per-group, per-class breakdown every multi-class metric reports.
fn breakdown(classes: &[String], groups: &[Group<'_>]) -> Vec<GroupBreakdown> {
    let mut out = Vec::new();
    for g in groups {
        let name = g.name;
        for (c, class) in classes.iter().enumerate() {
            let fp = g.predicted(c) - g.tp(c);
            let rates = venturalitica_vocab::results::rates([
                ("selection_rate", ratio(g.predicted(c), g.n())),
                ("tpr", ratio(g.tp(c), g.actual(c))),
                ("ppv", ratio(g.tp(c), g.predicted(c))),
                ("fpr", ratio(fp, g.n() - g.actual(c))),
            ]);
            out.push(GroupBreakdown {
                group: format!("{name} / class {class}"),
                n: g.n(),
                positives: Some(g.predicted(c)),
                counts: None,
                rates,
            });
        }
        out.push(GroupBreakdown {
            group: name.to_string(),
            n: g.n(),
            positives: None,
            counts: None,
            rates: venturalitica_vocab::results::rates([("accuracy", ratio(g.correct(), g.n()))]),
        });
    }
    out
}

/// Computes a multi-class metric from its confusion table.
pub fn multiclass_metric(
    key: MetricKey,
    aggregation: Aggregation,
    table: &ConfusionTable,
) -> Result<MetricValue, MetricError> {
    Ok(MetricValue {
        value: multiclass_value(key, aggregation, table)?,
        groups: breakdown(&table.classes, &live_groups(table)),
    })
}

/// Percentile bootstrap interval: a multinomial over every cell of the
/// table (group × target class × predicted class), as for binary metrics;
/// a group that draws no rows is left out of that resample.
pub fn bootstrap_confusion(
    key: MetricKey,
    aggregation: Aggregation,
    table: &ConfusionTable,
    spec: BootstrapSpec,
) -> Option<ConfidenceInterval> {
    let cells: Vec<u64> = table
        .groups
        .iter()
        .flat_map(|(_, c)| c.iter().copied())
        .collect();
    let width = table.classes.len().pow(2);
    let mut scratch = table.clone();
    let (values, undefined) = resample_cells(&cells, spec, |draw| {
        for ((_, counts), chunk) in scratch.groups.iter_mut().zip(draw.chunks_exact(width)) {
            counts.copy_from_slice(chunk);
        }
        multiclass_value(key, aggregation, &scratch).ok()
    });
    percentile_interval(values, undefined, spec)
}

/// The value alone (what the bootstrap recomputes).
fn multiclass_value(
    key: MetricKey,
    aggregation: Aggregation,
    table: &ConfusionTable,
) -> Result<f64, MetricError> {
    let k = table.classes.len();
    let groups = live_groups(table);
    if groups.is_empty() {
        return Err(MetricError::Empty);
    }
    if k < 2 {
        return Err(MetricError::ZeroDenominator {
            what: "multi-class metric",
            why: format!(
                "the target and prediction hold {k} class(es); a multi-class metric needs two or more"
            ),
        });
    }
    let value = if key == MetricKey::MulticlassConfusionMetrics {
        let n: u64 = groups.iter().map(Group::n).sum();
        let correct: u64 = groups.iter().map(Group::correct).sum();
        correct as f64 / n as f64
    } else {
        if groups.len() < 2 {
            return Err(MetricError::OneGroup {
                group: groups[0].name.to_string(),
            });
        }
        match aggregation {
            Aggregation::Micro => {
                // Pooled over classes, a group's TPR and precision are both its
                // accuracy; its FPR is its errors over (k − 1) × its rows.
                let acc: Vec<f64> = groups
                    .iter()
                    .map(|g| g.correct() as f64 / g.n() as f64)
                    .collect();
                let tpr_gap = spread(&acc);
                if key == MetricKey::MicroEqualizedOddsMulticlass {
                    let fpr: Vec<f64> = groups
                        .iter()
                        .map(|g| (g.n() - g.correct()) as f64 / ((k - 1) as u64 * g.n()) as f64)
                        .collect();
                    tpr_gap.max(spread(&fpr))
                } else {
                    tpr_gap
                }
            }
            agg => {
                let rate = Rate::of(key);
                let mut disparities = Vec::with_capacity(k);
                for (c, class) in table.classes.iter().enumerate() {
                    let per_group: Vec<f64> = groups
                        .iter()
                        .map(|g| {
                            rate.value(g, c)
                                .ok_or_else(|| rate.undefined(g.name, class))
                        })
                        .collect::<Result<_, _>>()?;
                    disparities.push((spread(&per_group), rate.support(&groups, c)));
                }
                match agg {
                    Aggregation::Max => disparities.iter().map(|d| d.0).fold(0.0, f64::max),
                    Aggregation::Macro => disparities.iter().map(|d| d.0).sum::<f64>() / k as f64,
                    _ => {
                        let total: u64 = disparities.iter().map(|d| d.1).sum();
                        disparities
                            .iter()
                            .map(|(d, w)| d * *w as f64 / total as f64)
                            .sum()
                    }
                }
            }
        }
    };
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two groups, three classes, by hand.
    fn table() -> ConfusionTable {
        ConfusionTable {
            classes: vec!["a".into(), "b".into(), "c".into()],
            groups: vec![
                // rows: target a, b, c; columns: predicted a, b, c.
                ("x".into(), vec![4, 1, 0, 1, 3, 1, 0, 0, 2]),
                ("y".into(), vec![2, 2, 1, 0, 4, 0, 1, 1, 3]),
            ],
        }
    }

    #[test]
    fn selection_rate_disparity_by_hand() {
        // x: n 12, predicted a 5, b 4, c 3; y: n 14, predicted a 3, b 7, c 4.
        let d = [
            5.0 / 12.0 - 3.0 / 14.0,
            7.0 / 14.0 - 4.0 / 12.0,
            4.0 / 14.0 - 3.0 / 12.0,
        ];
        let t = table();
        let v = |agg| {
            multiclass_metric(MetricKey::MulticlassDemographicParity, agg, &t)
                .unwrap()
                .value
        };
        assert!((v(Aggregation::Max) - d[0]).abs() < 1e-15);
        assert!((v(Aggregation::Macro) - d.iter().sum::<f64>() / 3.0).abs() < 1e-15);
        // Weighted by predictions: a 8, b 11, c 7 of 26.
        let w = (d[0] * 8.0 + d[1] * 11.0 + d[2] * 7.0) / 26.0;
        assert!((v(Aggregation::Weighted) - w).abs() < 1e-15);
    }

    #[test]
    fn micro_is_pooled_accuracy_and_error_rates() {
        let t = table();
        // x: correct 9 of 12; y: correct 9 of 14.
        let acc = 9.0 / 12.0 - 9.0 / 14.0;
        let eo = multiclass_metric(
            MetricKey::MulticlassEqualOpportunity,
            Aggregation::Micro,
            &t,
        )
        .unwrap();
        assert!((eo.value - acc).abs() < 1e-15);
        let fpr = 5.0 / 28.0 - 3.0 / 24.0; // errors / (2 × rows)
        let odds = multiclass_metric(
            MetricKey::MicroEqualizedOddsMulticlass,
            Aggregation::Micro,
            &t,
        )
        .unwrap();
        assert!((odds.value - acc.max(fpr)).abs() < 1e-15);
        // 3 classes × 2 groups, plus one accuracy row per group.
        assert_eq!(odds.groups.len(), 8);
    }

    #[test]
    fn bootstrap_interval_holds_the_value_and_narrows_with_more_rows() {
        let spec = BootstrapSpec::default();
        let key = MetricKey::MulticlassDemographicParity;
        let t = table();
        let value = multiclass_metric(key, Aggregation::Max, &t).unwrap().value;
        let small = bootstrap_confusion(key, Aggregation::Max, &t, spec).unwrap();
        assert!(
            small.lower <= value && value <= small.upper,
            "{small:?} {value}"
        );
        let mut big = t.clone();
        for (_, counts) in &mut big.groups {
            counts.iter_mut().for_each(|c| *c *= 100);
        }
        let wide = bootstrap_confusion(key, Aggregation::Max, &big, spec).unwrap();
        assert!(
            wide.upper - wide.lower < (small.upper - small.lower) / 3.0,
            "{wide:?}"
        );
        assert_eq!(small.resamples, spec.resamples);
    }

    #[test]
    fn undefined_rates_and_one_group_are_errors() {
        let mut t = table();
        t.groups[1].1 = vec![2, 2, 1, 0, 4, 0, 0, 0, 0]; // y has no target c
        let e = multiclass_metric(MetricKey::MulticlassEqualOpportunity, Aggregation::Max, &t)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("group \"y\"") && e.contains("class \"c\""),
            "{e}"
        );
        t.groups.truncate(1);
        assert!(matches!(
            multiclass_metric(MetricKey::MulticlassDemographicParity, Aggregation::Max, &t),
            Err(MetricError::OneGroup { .. })
        ));
    }
}
