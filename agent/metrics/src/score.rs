//! The score family: aggregates of a per-case numeric score (a Dice, an
//! NSD, an HD95, a benchmark answer's score) over all rows and over groups.
//!
//! The engine reduces the rows to a [`ScoreCell`] per group (rows, sum,
//! min, max of the score); every statistic here comes from those cells, so
//! Spark and DuckDB answer the same small table as polars. Formulas are in
//! `docs/metrics.md`; undefined cases (0/0, one group for a disparity) are
//! errors, never a number that could pass a threshold.

use serde::{Deserialize, Serialize};

use crate::catalog::MetricKey;
use crate::compute::{GroupBreakdown, MetricError, MetricValue};
use crate::table::GroupTable;

/// One group's per-case scores, reduced.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoreCell {
    /// Rows, each with a score.
    pub n: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

impl ScoreCell {
    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }
}

/// A disparity between the groups' mean scores (`subgroup_disparity`'s
/// `measure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    Gap,
    Ratio,
    Std,
    Cv,
    WorstGroup,
    Skew,
}

impl Measure {
    pub const ALL: [Measure; 6] = [
        Measure::Gap,
        Measure::Ratio,
        Measure::Std,
        Measure::Cv,
        Measure::WorstGroup,
        Measure::Skew,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Measure::Gap => "gap",
            Measure::Ratio => "ratio",
            Measure::Std => "std",
            Measure::Cv => "cv",
            Measure::WorstGroup => "worst_group",
            Measure::Skew => "skew",
        }
    }

    pub fn parse(s: &str) -> Option<Measure> {
        Measure::ALL.into_iter().find(|m| m.name() == s.trim())
    }
}

/// What a score-family key computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreStat {
    /// Mean over every row.
    Mean,
    /// Largest score of any row.
    Max,
    /// Lowest group (or cell) mean.
    GroupMin,
    /// A disparity of the group means; `None`: the control's `measure`.
    Disparity(Option<Measure>),
    /// `mean / (1 + Σ_g |mean - mean_g|)`.
    Essp,
    /// `mean / (1 + std_g(mean_g))`.
    EsspStdev,
}

impl ScoreStat {
    pub fn of(key: MetricKey) -> Option<ScoreStat> {
        use MetricKey as K;
        Some(match key {
            K::MeanScore | K::MeanNsd | K::MeanHd95 | K::MeanExcessComponents | K::BiasScore => {
                ScoreStat::Mean
            }
            K::MaxScore | K::MaxHd95 | K::MaxExcessComponents => ScoreStat::Max,
            K::MinGroupScore | K::WorstGroupScore | K::WorstCellScore => ScoreStat::GroupMin,
            K::ScoreGap | K::GroupScoreGap => ScoreStat::Disparity(Some(Measure::Gap)),
            K::ScoreRatio => ScoreStat::Disparity(Some(Measure::Ratio)),
            K::ScoreStd => ScoreStat::Disparity(Some(Measure::Std)),
            K::ScoreCv => ScoreStat::Disparity(Some(Measure::Cv)),
            K::ScoreSkew => ScoreStat::Disparity(Some(Measure::Skew)),
            K::SubgroupDisparity => ScoreStat::Disparity(None),
            K::Essp | K::EsDice | K::EsIou => ScoreStat::Essp,
            K::EsspStdev => ScoreStat::EsspStdev,
            _ => return None,
        })
    }

    /// Computed over all rows, without groups.
    pub fn is_overall(self) -> bool {
        matches!(self, ScoreStat::Mean | ScoreStat::Max)
    }
}

/// The groups' mean scores, with the breakdown that shows them.
fn group_means(table: &GroupTable<ScoreCell>) -> Vec<f64> {
    table.groups.iter().filter_map(|(_, c)| c.mean()).collect()
}

fn population_std(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt()
}

fn disparity(measure: Measure, means: &[f64]) -> Result<f64, MetricError> {
    let lo = means.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = means.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let n = means.len() as f64;
    let mean = means.iter().sum::<f64>() / n;
    let std = population_std(means);
    match measure {
        Measure::Gap => Ok(hi - lo),
        Measure::WorstGroup => Ok(lo),
        Measure::Std => Ok(std),
        Measure::Ratio if hi == 0.0 => Err(MetricError::ZeroDenominator {
            what: "score_ratio",
            why: "the highest group mean score is 0".into(),
        }),
        Measure::Ratio => Ok(lo / hi),
        Measure::Cv if mean == 0.0 => Err(MetricError::ZeroDenominator {
            what: "score_cv",
            why: "the mean of the groups' mean scores is 0".into(),
        }),
        Measure::Cv => Ok(std / mean),
        Measure::Skew if std == 0.0 => Err(MetricError::ZeroDenominator {
            what: "score_skew",
            why: "every group has the same mean score, so the skewness is 0/0".into(),
        }),
        Measure::Skew => Ok(means
            .iter()
            .map(|v| ((v - mean) / std).powi(3))
            .sum::<f64>()
            / n),
    }
}

/// A score-family metric over the table; `measure` is the control's choice
/// for `subgroup_disparity` (gap when it names none).
pub fn score_metric(
    key: MetricKey,
    measure: Option<Measure>,
    table: &GroupTable<ScoreCell>,
) -> Result<MetricValue, MetricError> {
    let stat = ScoreStat::of(key).ok_or(MetricError::WrongTable {
        metric: key,
        table: "score",
    })?;
    let all = table.groups.iter().fold(
        ScoreCell {
            n: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        },
        |a, (_, c)| ScoreCell {
            n: a.n + c.n,
            sum: a.sum + c.sum,
            min: a.min.min(c.min),
            max: a.max.max(c.max),
        },
    );
    let overall = all.mean().ok_or(MetricError::Empty)?;
    let means = group_means(table);
    let two_groups = || match table.groups.as_slice() {
        [(g, _)] => Err(MetricError::OneGroup { group: g.clone() }),
        _ => Ok(()),
    };
    let value = match stat {
        ScoreStat::Mean => overall,
        ScoreStat::Max => all.max,
        ScoreStat::GroupMin => means.iter().copied().fold(f64::INFINITY, f64::min),
        ScoreStat::Disparity(m) => {
            let measure = m.or(measure).unwrap_or(Measure::Gap);
            if measure != Measure::WorstGroup {
                two_groups()?;
            }
            disparity(measure, &means)?
        }
        ScoreStat::Essp => {
            two_groups()?;
            overall / (1.0 + means.iter().map(|m| (overall - m).abs()).sum::<f64>())
        }
        ScoreStat::EsspStdev => {
            two_groups()?;
            overall / (1.0 + population_std(&means))
        }
    };
    Ok(MetricValue {
        value,
        groups: score_breakdown(table),
    })
}

/// Rows and mean, lowest and highest score per group.
pub fn score_breakdown(table: &GroupTable<ScoreCell>) -> Vec<GroupBreakdown> {
    table
        .groups
        .iter()
        .map(|(g, c)| GroupBreakdown {
            group: g.clone(),
            n: c.n,
            positives: None,
            counts: None,
            rates: venturalitica_vocab::results::rates([
                ("mean_score", c.mean()),
                ("min_score", (c.n > 0).then_some(c.min)),
                ("max_score", (c.n > 0).then_some(c.max)),
            ]),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cells from each group's scores, as an engine would reduce them.
    fn table(groups: &[(&str, &[f64])]) -> GroupTable<ScoreCell> {
        GroupTable::new(
            groups
                .iter()
                .map(|(g, xs)| {
                    let cell = ScoreCell {
                        n: xs.len() as u64,
                        sum: xs.iter().sum(),
                        min: xs.iter().copied().fold(f64::INFINITY, f64::min),
                        max: xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    };
                    (g.to_string(), cell)
                })
                .collect(),
        )
    }

    fn value(key: MetricKey, t: &GroupTable<ScoreCell>) -> f64 {
        score_metric(key, None, t).unwrap().value
    }

    #[test]
    fn overall_and_group_statistics() {
        // Means: a 0.8, b 0.6, c 0.4; overall (0.9+0.7+0.6+0.4)/4 = 0.65.
        let t = table(&[("a", &[0.9, 0.7]), ("b", &[0.6]), ("c", &[0.4])]);
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-12, "{a} != {b}");
        close(value(MetricKey::MeanScore, &t), 0.65);
        close(value(MetricKey::MaxScore, &t), 0.9);
        close(value(MetricKey::MinGroupScore, &t), 0.4);
        close(value(MetricKey::ScoreGap, &t), 0.4);
        close(value(MetricKey::ScoreRatio, &t), 0.5);
        let std = (0.08f64 / 3.0).sqrt();
        close(value(MetricKey::ScoreStd, &t), std);
        close(value(MetricKey::ScoreCv, &t), std / 0.6);
        // Symmetric means: no skew.
        close(value(MetricKey::ScoreSkew, &t), 0.0);
        // |0.65-0.8| + |0.65-0.6| + |0.65-0.4| = 0.45.
        close(value(MetricKey::Essp, &t), 0.65 / 1.45);
        close(value(MetricKey::EsspStdev, &t), 0.65 / (1.0 + std));
        let ratio = score_metric(MetricKey::SubgroupDisparity, Some(Measure::Ratio), &t).unwrap();
        close(ratio.value, 0.5);
        close(value(MetricKey::SubgroupDisparity, &t), 0.4);
    }

    #[test]
    fn skew_leans_towards_the_tail() {
        // One group far below the rest: negative skew.
        let t = table(&[("a", &[0.9]), ("b", &[0.88]), ("c", &[0.2])]);
        assert!(value(MetricKey::ScoreSkew, &t) < -0.5);
    }

    #[test]
    fn undefined_cases_are_errors() {
        let one = table(&[("a", &[0.5, 0.7])]);
        assert!(matches!(
            score_metric(MetricKey::ScoreGap, None, &one),
            Err(MetricError::OneGroup { .. })
        ));
        // A minimum over one group is still a minimum.
        assert!((value(MetricKey::MinGroupScore, &one) - 0.6).abs() < 1e-12);
        let flat = table(&[("a", &[0.5]), ("b", &[0.5])]);
        assert!(score_metric(MetricKey::ScoreSkew, None, &flat).is_err());
        let zero = table(&[("a", &[0.0]), ("b", &[0.0])]);
        assert!(score_metric(MetricKey::ScoreRatio, None, &zero).is_err());
        assert_eq!(
            score_metric(MetricKey::MeanScore, None, &table(&[])),
            Err(MetricError::Empty)
        );
    }
}
