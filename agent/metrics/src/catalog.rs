//! The metric catalogue: every key a policy may name, what it reads, and the
//! parameters it understands. The policy loader uses it to reject unknown
//! keys (suggesting the closest ones); the engine uses it to bind inputs.

use std::fmt;

use serde::Serialize;

/// What a metric measures; decides which table the engine builds for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Rate of positive outcomes per group (prediction if bound, else target).
    OutcomeRate,
    /// Per-group confusion counts of target against prediction.
    ErrorRate,
    /// Overall confusion counts of target against prediction.
    Performance,
    /// Distinct values of the target column.
    ClassBalance,
    /// Missing values over columns.
    Completeness,
    /// Equivalence classes over quasi-identifiers.
    Privacy,
    /// Column names only.
    Schema,
    /// Per-group counts of every (target class, predicted class) pair.
    MultiClass,
    /// Aggregates of a per-case numeric score (a Dice, an NSD, a benchmark
    /// answer's score): its mean and maximum, and disparities between the
    /// groups' mean scores (the SDK's score and segmentation family).
    Score,
    /// Keys the SDK knows that need what a table cannot give (a causal
    /// model, LLM or document-pipeline output): a policy may name them, and
    /// `enforce(metrics=...)` checks values computed elsewhere; on data they
    /// are an `error` result saying why.
    External,
    /// A feature's distribution against a recorded reference's
    /// (`input.reference`): counts over the reference's bins or categories.
    Drift,
}

impl Family {
    /// The family's name, as the catalogue lists it.
    pub fn name(self) -> &'static str {
        match self {
            Family::OutcomeRate => "outcome_rate",
            Family::ErrorRate => "error_rate",
            Family::Performance => "performance",
            Family::ClassBalance => "class_balance",
            Family::Completeness => "completeness",
            Family::Privacy => "privacy",
            Family::Schema => "schema",
            Family::MultiClass => "multiclass",
            Family::External => "external",
            Family::Score => "score",
            Family::Drift => "drift",
        }
    }
}

/// A named input of a metric, bound by a policy's `input.<slot>` prop to a
/// variable, and by the mapping to a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    Target,
    Prediction,
    Dimension,
    QuasiIdentifiers,
    Sensitive,
    Columns,
    /// The per-case score the score family aggregates.
    Score,
    /// The attributes whose combinations are the cells of `worst_cell_score`.
    Cells,
    /// The feature (or features) a drift metric compares with its reference.
    Feature,
}

impl Slot {
    pub const ALL: [Slot; 9] = [
        Slot::Target,
        Slot::Prediction,
        Slot::Dimension,
        Slot::QuasiIdentifiers,
        Slot::Sensitive,
        Slot::Columns,
        Slot::Score,
        Slot::Cells,
        Slot::Feature,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Slot::Target => "target",
            Slot::Prediction => "prediction",
            Slot::Dimension => "dimension",
            Slot::QuasiIdentifiers => "quasi_identifiers",
            Slot::Sensitive => "sensitive",
            Slot::Columns => "columns",
            Slot::Score => "score",
            Slot::Cells => "cells",
            Slot::Feature => "feature",
        }
    }

    /// Slot names as written in policies, including older spellings.
    pub fn parse(name: &str) -> Option<Slot> {
        Some(match name {
            "target" | "label" | "y_true" => Slot::Target,
            "prediction" | "y_pred" | "pred" => Slot::Prediction,
            "dimension" | "protected_attribute" | "sensitive_feature" | "attribute" => {
                Slot::Dimension
            }
            "quasi_identifiers" | "quasi_identifier" | "qi" => Slot::QuasiIdentifiers,
            "sensitive" | "sensitive_attribute" => Slot::Sensitive,
            "columns" => Slot::Columns,
            "score" => Slot::Score,
            "cells" | "dimensions" => Slot::Cells,
            "feature" | "features" => Slot::Feature,
            _ => return None,
        })
    }

    /// Slots that take a comma-separated list of variables.
    pub fn is_list(self) -> bool {
        matches!(
            self,
            Slot::QuasiIdentifiers | Slot::Columns | Slot::Cells | Slot::Feature
        )
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

macro_rules! metric_keys {
    ($( $variant:ident => $name:literal, $family:ident, [$($alias:literal),*], $doc:literal; )*) => {
        /// Every metric the engine computes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum MetricKey { $( #[doc = $doc] $variant, )* }

        impl MetricKey {
            pub const ALL: &'static [MetricKey] = &[$(MetricKey::$variant,)*];

            /// The canonical key, as results report it.
            pub fn name(self) -> &'static str {
                match self { $(MetricKey::$variant => $name,)* }
            }

            /// Other spellings accepted in policies (older SDK names, fairlearn names).
            pub fn aliases(self) -> &'static [&'static str] {
                match self { $(MetricKey::$variant => &[$($alias),*],)* }
            }

            pub fn family(self) -> Family {
                match self { $(MetricKey::$variant => Family::$family,)* }
            }

            /// One-line description, for help texts and reports.
            pub fn summary(self) -> &'static str {
                match self { $(MetricKey::$variant => $doc,)* }
            }
        }
    };
}

metric_keys! {
    DisparateImpact => "disparate_impact", OutcomeRate,
        ["disparate_impact_ratio", "demographic_parity_ratio"],
        "min / max of the per-group positive rate (fairlearn demographic_parity_ratio)";
    DemographicParityDiff => "demographic_parity_diff", OutcomeRate,
        ["demographic_parity_difference", "statistical_parity_difference"],
        "max - min of the per-group positive rate (fairlearn demographic_parity_difference)";
    SelectionRate => "selection_rate", OutcomeRate, [],
        "overall positive rate, with the per-group rates (fairlearn selection_rate)";
    GroupMinPositiveRate => "group_min_positive_rate", OutcomeRate, [],
        "lowest per-group positive rate";
    EqualOpportunityDiff => "equal_opportunity_diff", ErrorRate,
        ["equal_opportunity_difference"],
        "max - min of the per-group true positive rate (fairlearn equal_opportunity_difference)";
    EqualizedOddsDiff => "equalized_odds_diff", ErrorRate,
        ["equalized_odds_difference"],
        "worst of the TPR and FPR differences (fairlearn equalized_odds_difference)";
    EqualizedOddsRatio => "equalized_odds_ratio", ErrorRate, [],
        "worst of the TPR and FPR ratios (fairlearn equalized_odds_ratio)";
    PredictiveEqualityDiff => "predictive_equality_diff", ErrorRate,
        ["predictive_equality_difference", "false_positive_rate_difference", "fpr_parity"],
        "max - min of the per-group false positive rate (predictive equality)";
    MulticlassDemographicParity => "multiclass_demographic_parity", MultiClass, [],
        "one-vs-rest selection-rate disparity per class, aggregated (max by default)";
    WeightedDemographicParityMulticlass => "weighted_demographic_parity_multiclass", MultiClass, [],
        "one-vs-rest selection-rate disparity per class, weighted by predictions (by default)";
    MulticlassEqualOpportunity => "multiclass_equal_opportunity", MultiClass, [],
        "one-vs-rest true-positive-rate disparity per class, aggregated (max by default)";
    MacroEqualOpportunityMulticlass => "macro_equal_opportunity_multiclass", MultiClass, [],
        "one-vs-rest true-positive-rate disparity, mean over classes (by default)";
    MicroEqualizedOddsMulticlass => "micro_equalized_odds_multiclass", MultiClass, [],
        "worst of the pooled TPR (accuracy) and pooled FPR gaps between groups";
    PredictiveParityMulticlass => "predictive_parity_multiclass", MultiClass, [],
        "one-vs-rest precision disparity per class, aggregated (max by default)";
    MulticlassConfusionMetrics => "multiclass_confusion_metrics", MultiClass, [],
        "accuracy, with per-group and per-class selection rate, TPR, precision and FPR as the breakdown";
    PredictiveParity => "predictive_parity", ErrorRate,
        ["predictive_parity_diff", "predictive_parity_difference"],
        "max - min of the per-group precision (positive predictive value)";
    Accuracy => "accuracy_score", Performance, ["accuracy"],
        "(TP + TN) / n (sklearn accuracy_score)";
    Precision => "precision_score", Performance, ["precision"],
        "TP / (TP + FP) (sklearn precision_score)";
    Recall => "recall_score", Performance, ["recall"],
        "TP / (TP + FN) (sklearn recall_score)";
    F1 => "f1_score", Performance, ["f1"],
        "2 TP / (2 TP + FP + FN) (sklearn f1_score)";
    ClassImbalance => "class_imbalance", ClassBalance, ["min_class_ratio", "classification_distribution"],
        "rows of the rarest class / rows of the commonest class of the target";
    DataCompleteness => "data_completeness", Completeness, ["completeness"],
        "share of non-missing cells over the checked columns";
    KAnonymity => "k_anonymity", Privacy, [],
        "size of the smallest equivalence class over the quasi-identifiers";
    LDiversity => "l_diversity", Privacy, [],
        "fewest distinct sensitive values in any equivalence class";
    TCloseness => "t_closeness", Privacy, [],
        "largest total-variation distance between a class's sensitive distribution and the whole";
    PathDecomposition => "path_decomposition", External, [],
        "it needs a causal model (which attributes cause which), which a table does not carry";
    CounterfactualFairness => "counterfactual_fairness", External, [],
        "it needs a causal model to generate counterfactual individuals, which a table does not carry";
    FairnessThroughAwareness => "fairness_through_awareness", External, [],
        "it needs a task-specific similarity metric between individuals, which a policy does not define";
    CausalFairnessDiagnostic => "causal_fairness_diagnostic", External, [],
        "it needs a causal model (which attributes cause which), which a table does not carry";
    ReportCoverage => "report_coverage", External, [],
        "it is a statistic of the SDK's document (ESG report) pipelines, not of a model's decisions";
    ProvenanceCompleteness => "provenance_completeness", External, [],
        "it is a statistic of the SDK's document (ESG report) pipelines, not of a model's decisions";
    ChunkDiversity => "chunk_diversity", External, [],
        "it is a statistic of the SDK's document (ESG report) pipelines, not of a model's decisions";
    SubtitleDiversity => "subtitle_diversity", External, [],
        "it is a statistic of the SDK's document (ESG report) pipelines, not of a model's decisions";
    BiasScore => "bias_score", Score, ["stereotype_preference_rate", "category_bias_score"],
        "mean of a per-answer score of an LLM benchmark (the score, else the target column)";
    DataMinimization => "data_minimization", Schema, ["data_minimization_score"],
        "share of columns that are not special-category personal data";
    MeanScore => "mean_score", Score, ["column_mean"],
        "mean of the per-case score over all rows";
    MaxScore => "max_score", Score, [],
        "largest per-case score (a leakage probe)";
    ScoreStd => "score_std", Score, [],
        "population standard deviation of the groups' mean scores";
    ScoreCv => "score_cv", Score, [],
        "coefficient of variation (std / mean) of the groups' mean scores";
    ScoreGap => "score_gap", Score, [],
        "max - min of the groups' mean scores";
    ScoreRatio => "score_ratio", Score, [],
        "min / max of the groups' mean scores";
    ScoreSkew => "score_skew", Score, [],
        "population (Fisher-Pearson) skewness of the groups' mean scores (DSC skewness, FairMedFM)";
    MinGroupScore => "min_group_score", Score, [],
        "lowest mean score of a group";
    WorstGroupScore => "worst_group_score", Score, [],
        "lowest mean score of a group (Rawlsian), as min_group_score";
    WorstCellScore => "worst_cell_score", Score, [],
        "lowest mean score of a cell, a combination of the attributes in `dimensions`";
    GroupScoreGap => "group_score_gap", Score, [],
        "max - min of the groups' mean scores, as score_gap";
    SubgroupDisparity => "subgroup_disparity", Score, [],
        "one disparity of the groups' mean scores, chosen by `measure` (gap, ratio, std, cv, worst_group, skew; gap by default)";
    EsDice => "es_dice", Score, [],
        "ESSP over a per-case Dice score: mean / (1 + sum of |mean - group mean|) (FairSeg)";
    EsIou => "es_iou", Score, [],
        "ESSP over a per-case IoU score: mean / (1 + sum of |mean - group mean|) (FairSeg)";
    Essp => "essp", Score, [],
        "equity-scaled performance: mean / (1 + sum of |mean - group mean|) (FairSeg)";
    EsspStdev => "essp_stdev", Score, [],
        "mean / (1 + population std of the groups' mean scores)";
    MeanNsd => "mean_nsd", Score, [],
        "mean of a per-case normalised surface Dice";
    MeanHd95 => "mean_hd95", Score, [],
        "mean of a per-case 95th-percentile Hausdorff distance";
    MaxHd95 => "max_hd95", Score, [],
        "largest per-case 95th-percentile Hausdorff distance";
    MeanExcessComponents => "mean_excess_components", Score, [],
        "mean of the per-case count of excess connected components";
    MaxExcessComponents => "max_excess_components", Score, [],
        "largest per-case count of excess connected components";
    Psi => "psi", Drift, ["population_stability_index"],
        "population stability index of a feature against its reference, over the reference's bins";
    JensenShannonDistance => "jensen_shannon_distance", Drift, ["js_distance"],
        "Jensen-Shannon distance (natural log) of a feature's shares against its reference's";
    WassersteinDistance => "wasserstein_distance", Drift, ["earth_movers_distance"],
        "Wasserstein-1 distance of a numeric feature from its reference, over the reference's bins";
    KsStatistic => "ks_statistic", Drift, [],
        "two-sample Kolmogorov-Smirnov statistic of a numeric feature against its reference";
    KsPValue => "ks_p_value", Drift, [],
        "asymptotic p-value of the two-sample Kolmogorov-Smirnov test against the reference";
    Chi2PValue => "chi2_p_value", Drift, [],
        "p-value of the chi-squared test of homogeneity of a feature's categories (or bins) and its reference's";
    DriftedShare => "drifted_share", Drift, ["share_of_drifted_columns"],
        "share of the listed features whose own test (KS, or chi-squared for categories) drifts at alpha";
}

/// Parameters every metric understands.
pub const COMMON_PARAMS: &[&str] = &[
    "positive_label",
    "bins",
    "confidence_level",
    "bootstrap_resamples",
    "bootstrap_seed",
];

impl MetricKey {
    /// Looks a key up by its name or an alias (case-insensitive).
    pub fn parse(name: &str) -> Option<MetricKey> {
        let lower = name.trim().to_ascii_lowercase();
        MetricKey::ALL
            .iter()
            .copied()
            .find(|k| k.name() == lower || k.aliases().contains(&lower.as_str()))
    }

    /// The known keys closest to a misspelt one, best first.
    pub fn closest(name: &str, max: usize) -> Vec<&'static str> {
        let lower = name.to_ascii_lowercase();
        let mut scored: Vec<(f64, &'static str)> = MetricKey::ALL
            .iter()
            .flat_map(|k| std::iter::once(k.name()).chain(k.aliases().iter().copied()))
            .map(|cand| (strsim::jaro_winkler(&lower, cand), cand))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored.into_iter().take(max).map(|(_, c)| c).collect()
    }

    /// Slots the metric must have bound to compute at all.
    pub fn required_slots(self) -> &'static [Slot] {
        match self.family() {
            Family::OutcomeRate if self == MetricKey::SelectionRate => &[Slot::Target],
            Family::OutcomeRate => &[Slot::Target, Slot::Dimension],
            Family::ErrorRate | Family::MultiClass => {
                &[Slot::Target, Slot::Prediction, Slot::Dimension]
            }
            Family::Performance => &[Slot::Target, Slot::Prediction],
            Family::ClassBalance => &[Slot::Target],
            Family::Completeness | Family::Schema | Family::External => &[],
            Family::Drift => &[Slot::Feature],
            Family::Score => match crate::score::ScoreStat::of(self) {
                Some(stat) if stat.is_overall() => &[Slot::Score],
                _ if self == MetricKey::WorstCellScore => &[Slot::Score, Slot::Cells],
                _ => &[Slot::Score, Slot::Dimension],
            },
            Family::Privacy => match self {
                MetricKey::KAnonymity => &[Slot::QuasiIdentifiers],
                _ => &[Slot::QuasiIdentifiers, Slot::Sensitive],
            },
        }
    }

    /// Parameters specific to this metric, beyond [`COMMON_PARAMS`].
    pub fn own_params(self) -> &'static [&'static str] {
        match self {
            MetricKey::DataMinimization => &["sensitive_columns"],
            MetricKey::SubgroupDisparity => &["measure"],
            MetricKey::Precision | MetricKey::Recall | MetricKey::F1 => &["average"],
            MetricKey::WorstCellScore => &["dimensions"],
            MetricKey::DriftedShare => &["reference", "alpha"],
            MetricKey::Psi | MetricKey::JensenShannonDistance | MetricKey::Chi2PValue => {
                &["reference", "drift_bins"]
            }
            k if k.family() == Family::Drift => &["reference"],
            k if k.family() == Family::MultiClass && k != MetricKey::MulticlassConfusionMetrics => {
                &["aggregation"]
            }
            _ => &[],
        }
    }

    /// Whether the value is a sampling statistic worth a bootstrap interval.
    pub fn has_confidence_interval(self) -> bool {
        matches!(
            self.family(),
            Family::OutcomeRate
                | Family::ErrorRate
                | Family::Performance
                | Family::ClassBalance
                | Family::MultiClass
        )
    }
}

/// What a metric's number means, where the catalogue knows it: its unit,
/// which way is better, and the range a value can take.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sense {
    pub unit: &'static str,
    pub lower_is_better: bool,
    /// `None`: unbounded (a distance in mm).
    pub bounds: Option<(f64, f64)>,
}

impl Sense {
    const fn higher(unit: &'static str, bounds: Option<(f64, f64)>) -> Option<Sense> {
        Some(Sense {
            unit,
            lower_is_better: false,
            bounds,
        })
    }

    const fn lower(unit: &'static str, bounds: Option<(f64, f64)>) -> Option<Sense> {
        Some(Sense {
            unit,
            lower_is_better: true,
            bounds,
        })
    }
}

const UNIT: Option<(f64, f64)> = Some((0.0, 1.0));
const NON_NEGATIVE: Option<(f64, f64)> = Some((0.0, f64::INFINITY));
/// √(ln 2): the largest Jensen-Shannon distance, in the natural log.
const LN_2_SQRT: f64 = 0.832_554_611_157_697_8;

impl MetricKey {
    /// The metric's sense; `None` where it depends on the data (the mean of
    /// whatever score a column holds) or the catalogue does not say.
    pub fn sense(self) -> Option<Sense> {
        use MetricKey as K;
        match self {
            K::Accuracy | K::Precision | K::Recall | K::F1 | K::MulticlassConfusionMetrics => {
                Sense::higher("fraction", UNIT)
            }
            K::DisparateImpact | K::EqualizedOddsRatio => Sense::higher("ratio", UNIT),
            K::ClassImbalance => Sense::higher("ratio", UNIT),
            K::GroupMinPositiveRate | K::DataCompleteness | K::DataMinimization => {
                Sense::higher("fraction", UNIT)
            }
            K::DemographicParityDiff
            | K::EqualOpportunityDiff
            | K::EqualizedOddsDiff
            | K::PredictiveEqualityDiff
            | K::PredictiveParity
            | K::MulticlassDemographicParity
            | K::WeightedDemographicParityMulticlass
            | K::MulticlassEqualOpportunity
            | K::MacroEqualOpportunityMulticlass
            | K::MicroEqualizedOddsMulticlass
            | K::PredictiveParityMulticlass => Sense::lower("difference of rates", UNIT),
            K::KAnonymity => Sense::higher("rows", NON_NEGATIVE),
            K::LDiversity => Sense::higher("distinct values", NON_NEGATIVE),
            K::TCloseness => Sense::lower("total variation", UNIT),
            K::MeanNsd => Sense::higher("fraction", UNIT),
            K::EsDice | K::EsIou => Sense::higher("fraction", UNIT),
            K::Essp | K::EsspStdev | K::ScoreRatio => Sense::higher("score", None),
            // A distance has no upper bound, and a threshold below 0 only
            // never binds: no range to check.
            K::MeanHd95 | K::MaxHd95 => Sense::lower("mm", None),
            K::MeanExcessComponents | K::MaxExcessComponents => {
                Sense::lower("components", NON_NEGATIVE)
            }
            K::ScoreGap | K::GroupScoreGap | K::ScoreStd | K::ScoreCv => {
                Sense::lower("score", None)
            }
            K::Psi => Sense::lower("index", NON_NEGATIVE),
            K::JensenShannonDistance => Sense::lower("distance", Some((0.0, LN_2_SQRT))),
            K::WassersteinDistance => Sense::lower("the feature's unit", NON_NEGATIVE),
            K::KsStatistic => Sense::lower("difference of CDFs", UNIT),
            K::KsPValue | K::Chi2PValue => Sense::higher("p-value", UNIT),
            K::DriftedShare => Sense::lower("fraction", UNIT),
            _ => None,
        }
    }

    /// Why a threshold cannot mean what it says: outside the metric's range,
    /// or a bound on the wrong side (`>=` on a distance asks for a large
    /// error). `at_least`: the operator bounds the value from below (`>`,
    /// `>=`); `at_most`: from above (`<`, `<=`). `None` when plausible or
    /// when the catalogue does not know the metric's sense.
    pub fn threshold_misreading(
        self,
        at_least: bool,
        at_most: bool,
        threshold: f64,
    ) -> Option<String> {
        let sense = self.sense()?;
        if let Some((low, high)) = sense.bounds {
            if !(low..=high).contains(&threshold) {
                return Some(format!(
                    "{self} lies in [{low}, {high}] ({}), and the threshold is {threshold}",
                    sense.unit
                ));
            }
        }
        if sense.lower_is_better && at_least {
            return Some(format!(
                "lower is better for {self} ({}), but the operator asks for a value at least the threshold: the threshold points the wrong way",
                sense.unit
            ));
        }
        if !sense.lower_is_better && at_most {
            return Some(format!(
                "higher is better for {self} ({}), but the operator caps the value: the threshold points the wrong way",
                sense.unit
            ));
        }
        None
    }
}

impl fmt::Display for MetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_and_alias_parses_back_to_its_key() {
        for &k in MetricKey::ALL {
            assert_eq!(MetricKey::parse(k.name()), Some(k));
            for a in k.aliases() {
                assert_eq!(MetricKey::parse(a), Some(k), "alias {a}");
            }
        }
    }

    /// Every key of the Venturalitica SDK 0.8.2 catalogue (its
    /// `metrics/catalog.yaml`) is known: computed here, or, for the ones a
    /// table cannot serve, checked from values given with `metrics=`.
    #[test]
    fn every_sdk_catalogue_key_is_known() {
        let sdk = [
            "demographic_parity_diff",
            "equal_opportunity_diff",
            "equalized_odds_ratio",
            "predictive_parity",
            "multiclass_demographic_parity",
            "multiclass_equal_opportunity",
            "multiclass_confusion_metrics",
            "k_anonymity",
            "l_diversity",
            "t_closeness",
            "data_minimization",
            "weighted_demographic_parity_multiclass",
            "macro_equal_opportunity_multiclass",
            "micro_equalized_odds_multiclass",
            "predictive_parity_multiclass",
            "path_decomposition",
            "counterfactual_fairness",
            "fairness_through_awareness",
            "causal_fairness_diagnostic",
            "accuracy_score",
            "precision_score",
            "recall_score",
            "disparate_impact",
            "class_imbalance",
            "group_min_positive_rate",
            "data_completeness",
            "classification_distribution",
            "report_coverage",
            "provenance_completeness",
            "chunk_diversity",
            "subtitle_diversity",
        ];
        assert_eq!(sdk.len(), 31);
        for key in sdk {
            assert!(MetricKey::parse(key).is_some(), "{key}");
        }
        // The rest of the SDK 0.8.2 `METRIC_REGISTRY`: the score and
        // segmentation families, computed over a per-case score column.
        let registry = [
            "mean_score",
            "max_score",
            "score_std",
            "score_cv",
            "score_gap",
            "score_ratio",
            "score_skew",
            "min_group_score",
            "worst_group_score",
            "worst_cell_score",
            "group_score_gap",
            "subgroup_disparity",
            "es_dice",
            "es_iou",
            "essp",
            "essp_stdev",
            "mean_nsd",
            "mean_hd95",
            "max_hd95",
            "mean_excess_components",
            "max_excess_components",
        ];
        assert_eq!(registry.len(), 21);
        for key in registry {
            let known = MetricKey::parse(key).unwrap_or_else(|| panic!("{key}"));
            assert_eq!(known.family(), Family::Score, "{key}");
        }
        assert!(MetricKey::parse("predictive_equality_diff").is_some());
    }

    #[test]
    fn thresholds_on_the_wrong_side_are_named() {
        let k = MetricKey::MeanHd95;
        assert!(k
            .threshold_misreading(true, false, 5.0)
            .unwrap()
            .contains("wrong way"));
        assert_eq!(k.threshold_misreading(false, true, 5.0), None);
        let di = MetricKey::DisparateImpact;
        assert!(di
            .threshold_misreading(true, false, 80.0)
            .unwrap()
            .contains("[0, 1]"));
        assert_eq!(di.threshold_misreading(true, false, 0.8), None);
        // No opinion where the sense depends on the score.
        assert_eq!(
            MetricKey::MeanScore.threshold_misreading(false, true, 0.9),
            None
        );
    }

    #[test]
    fn names_are_unique() {
        let mut all: Vec<&str> = MetricKey::ALL
            .iter()
            .flat_map(|k| std::iter::once(k.name()).chain(k.aliases().iter().copied()))
            .collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
    }

    #[test]
    fn closest_suggests_the_intended_key() {
        assert_eq!(
            MetricKey::closest("disparate_impakt", 1),
            vec!["disparate_impact"]
        );
        assert!(MetricKey::closest("equalised_odds_diff", 3).contains(&"equalized_odds_diff"));
    }
}
