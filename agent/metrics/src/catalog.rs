//! The metric catalogue: every key a policy may name, what it reads, and the
//! parameters it understands. The policy loader uses it to reject unknown
//! keys (suggesting the closest ones); the engine uses it to bind inputs.

use std::fmt;

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
    /// Keys the SDK knows that need what a table cannot give (a causal
    /// model, LLM or document-pipeline output): a policy may name them, and
    /// `enforce(metrics=...)` checks values computed elsewhere; on data they
    /// are an `error` result saying why.
    External,
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
}

impl Slot {
    pub const ALL: [Slot; 6] = [
        Slot::Target,
        Slot::Prediction,
        Slot::Dimension,
        Slot::QuasiIdentifiers,
        Slot::Sensitive,
        Slot::Columns,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Slot::Target => "target",
            Slot::Prediction => "prediction",
            Slot::Dimension => "dimension",
            Slot::QuasiIdentifiers => "quasi_identifiers",
            Slot::Sensitive => "sensitive",
            Slot::Columns => "columns",
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
            _ => return None,
        })
    }

    /// Slots that take a comma-separated list of variables.
    pub fn is_list(self) -> bool {
        matches!(self, Slot::QuasiIdentifiers | Slot::Columns)
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
    BiasScore => "bias_score", External, ["stereotype_preference_rate", "category_bias_score"],
        "it is a mean of LLM benchmark answers, which are scored outside the engine";
    DataMinimization => "data_minimization", Schema, ["data_minimization_score"],
        "share of columns that are not special-category personal data";
    MeanScore => "mean_score", External, [],
        "it aggregates a per-case score (the SDK's segmentation and score family), which the engine does not compute yet";
    MaxScore => "max_score", External, [],
        "it aggregates a per-case score (the SDK's segmentation and score family), which the engine does not compute yet";
    ScoreStd => "score_std", External, [],
        "it aggregates a per-case score (the SDK's segmentation and score family), which the engine does not compute yet";
    ScoreCv => "score_cv", External, [],
        "it aggregates a per-case score (the SDK's segmentation and score family), which the engine does not compute yet";
    ScoreGap => "score_gap", External, [],
        "it aggregates a per-case score (the SDK's segmentation and score family), which the engine does not compute yet";
    ScoreRatio => "score_ratio", External, [],
        "it aggregates a per-case score (the SDK's segmentation and score family), which the engine does not compute yet";
    ScoreSkew => "score_skew", External, [],
        "it aggregates a per-case score (the SDK's segmentation and score family), which the engine does not compute yet";
    MinGroupScore => "min_group_score", External, [],
        "it aggregates a per-case score (the SDK's segmentation and score family), which the engine does not compute yet";
    WorstGroupScore => "worst_group_score", External, [],
        "it aggregates a per-case score (the SDK's segmentation and score family), which the engine does not compute yet";
    WorstCellScore => "worst_cell_score", External, [],
        "it aggregates a per-case score (the SDK's segmentation and score family), which the engine does not compute yet";
    GroupScoreGap => "group_score_gap", External, [],
        "it aggregates a per-case score (the SDK's segmentation and score family), which the engine does not compute yet";
    SubgroupDisparity => "subgroup_disparity", External, [],
        "it aggregates a per-case score (the SDK's segmentation and score family), which the engine does not compute yet";
    EsDice => "es_dice", External, [],
        "it needs segmentation masks (per-voxel predictions and ground truth), which a table does not carry";
    EsIou => "es_iou", External, [],
        "it needs segmentation masks (per-voxel predictions and ground truth), which a table does not carry";
    Essp => "essp", External, [],
        "it needs segmentation masks (per-voxel predictions and ground truth), which a table does not carry";
    EsspStdev => "essp_stdev", External, [],
        "it needs segmentation masks (per-voxel predictions and ground truth), which a table does not carry";
    MeanNsd => "mean_nsd", External, [],
        "it needs segmentation masks (per-voxel predictions and ground truth), which a table does not carry";
    MeanHd95 => "mean_hd95", External, [],
        "it needs segmentation masks (per-voxel predictions and ground truth), which a table does not carry";
    MaxHd95 => "max_hd95", External, [],
        "it needs segmentation masks (per-voxel predictions and ground truth), which a table does not carry";
    MeanExcessComponents => "mean_excess_components", External, [],
        "it needs segmentation masks (per-voxel predictions and ground truth), which a table does not carry";
    MaxExcessComponents => "max_excess_components", External, [],
        "it needs segmentation masks (per-voxel predictions and ground truth), which a table does not carry";
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
        // segmentation families, known so a policy naming them loads (and
        // `metrics=` checks their values); on data they are error results.
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
            assert_eq!(known.family(), Family::External, "{key}");
        }
        assert!(MetricKey::parse("predictive_equality_diff").is_some());
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
