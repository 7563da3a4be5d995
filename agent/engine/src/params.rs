//! A control's metric parameters, parsed and checked.

use std::collections::BTreeMap;

use venturalitica_metrics::catalog::COMMON_PARAMS;
use venturalitica_metrics::{
    Aggregation, Average, BootstrapSpec, Family, Measure, MetricKey, Slot,
};

/// Typed parameters of one control.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params {
    pub positive_label: Option<String>,
    /// Bin edges for a numeric attribute, ascending.
    pub bins: Option<Vec<f64>>,
    /// Quantile buckets of a numeric attribute (`age_bucket_method:
    /// quantiles`, `age_buckets: N`, as pandas `qcut` in the SDK).
    pub quantile_buckets: Option<usize>,
    /// How a multi-class metric aggregates its per-class disparities.
    pub aggregation: Option<Aggregation>,
    /// `None` when the control turned intervals off (`bootstrap_resamples: 0`).
    pub bootstrap: Option<BootstrapSpec>,
    pub sensitive_columns: Option<Vec<String>>,
    /// How precision, recall and F1 combine the two classes.
    pub average: Average,
    /// `subgroup_disparity`'s disparity.
    pub measure: Option<Measure>,
    /// `worst_cell_score`'s cell attributes (variables, bound like inputs).
    pub cells: Option<Vec<String>>,
    /// A drift metric's reference, by name (`input.reference`).
    pub reference: Option<String>,
    /// `drifted_share`'s significance level (0.05 unless given).
    pub alpha: Option<f64>,
    /// Bins a numeric feature's reference bins are merged into for the
    /// PSI, Jensen-Shannon and chi-squared (10 unless given).
    pub drift_bins: Option<usize>,
    /// Parameters the metric does not use: reported, not silently dropped.
    pub unused: Vec<String>,
}

fn list(value: &str) -> Vec<String> {
    value
        .trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .map(|s| s.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Parses a control's params; an error names the parameter and its value.
pub fn parse(metric: MetricKey, raw: &BTreeMap<String, String>) -> Result<Params, String> {
    let mut spec = BootstrapSpec::default();
    let mut bootstrap_on = true;
    let mut p = Params {
        positive_label: None,
        bins: None,
        quantile_buckets: None,
        aggregation: None,
        bootstrap: None,
        sensitive_columns: None,
        average: Average::Binary,
        measure: None,
        cells: None,
        reference: None,
        alpha: None,
        drift_bins: None,
        unused: Vec::new(),
    };
    // Bucketing applies to metrics that group rows by an attribute.
    let groups_rows = metric.required_slots().contains(&Slot::Dimension)
        || metric.family() == Family::OutcomeRate;
    let (mut quantiles, mut buckets) = (false, None);
    for (name, value) in raw {
        let bad = |why: &str| format!("parameter {name}={value:?}: {why}");
        match name.as_str() {
            "positive_label" => p.positive_label = Some(value.clone()),
            "bins" => {
                let mut edges = Vec::new();
                for item in list(value) {
                    edges.push(
                        item.parse::<f64>()
                            .map_err(|_| bad("bin edges must be numbers"))?,
                    );
                }
                if edges.is_empty() || edges.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(bad("bin edges must be one or more ascending numbers"));
                }
                p.bins = Some(edges);
            }
            "confidence_level" => {
                spec.level = value
                    .parse::<f64>()
                    .ok()
                    .filter(|l| *l > 0.0 && *l < 1.0)
                    .ok_or_else(|| bad("must be a number between 0 and 1, e.g. 0.95"))?;
            }
            "bootstrap_resamples" => {
                let n: u32 = value.parse().map_err(|_| bad("must be a whole number"))?;
                bootstrap_on = n > 0;
                spec.resamples = n;
            }
            "bootstrap_seed" => {
                spec.seed = value.parse().map_err(|_| bad("must be a whole number"))?
            }
            "sensitive_columns" if metric.own_params().contains(&"sensitive_columns") => {
                p.sensitive_columns = Some(list(value));
            }
            "average" if metric.own_params().contains(&"average") => {
                let names: Vec<&str> = Average::ALL.iter().map(|a| a.name()).collect();
                p.average = Average::parse(value)
                    .ok_or_else(|| bad(&format!("the averages are {}", names.join(", "))))?;
            }
            "measure" if metric.own_params().contains(&"measure") => {
                let names: Vec<&str> = Measure::ALL.iter().map(|m| m.name()).collect();
                p.measure = Some(
                    Measure::parse(value)
                        .ok_or_else(|| bad(&format!("the measures are {}", names.join(", "))))?,
                );
            }
            "reference" if metric.own_params().contains(&"reference") => {
                let name = value.trim();
                if name.is_empty() {
                    return Err(bad("names no reference"));
                }
                p.reference = Some(name.to_string());
            }
            "alpha" if metric.own_params().contains(&"alpha") => {
                p.alpha = Some(
                    value
                        .trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|a| *a > 0.0 && *a < 1.0)
                        .ok_or_else(|| {
                            bad("must be a significance level between 0 and 1, e.g. 0.05")
                        })?,
                );
            }
            "drift_bins" if metric.own_params().contains(&"drift_bins") => {
                p.drift_bins = Some(
                    value
                        .trim()
                        .parse::<usize>()
                        .ok()
                        .filter(|n| *n >= 2)
                        .ok_or_else(|| bad("must be a whole number of bins, 2 or more"))?,
                );
            }
            "dimensions" if metric.own_params().contains(&"dimensions") => {
                p.cells = Some(list(value));
            }
            "aggregation" if metric.own_params().contains(&"aggregation") => {
                let allowed = Aggregation::allowed_for(metric);
                let names: Vec<&str> = allowed.iter().map(|a| a.name()).collect();
                let agg = Aggregation::parse(value)
                    .filter(|a| allowed.contains(a))
                    .ok_or_else(|| {
                        bad(&format!("{metric} aggregates with {}", names.join(", ")))
                    })?;
                p.aggregation = Some(agg);
            }
            "age_bucket_method" if groups_rows => {
                if value.trim() != "quantiles" {
                    return Err(bad("the one bucketing method is \"quantiles\" (equal-count buckets, as pandas qcut)"));
                }
                quantiles = true;
            }
            "age_buckets" if groups_rows => {
                buckets = Some(
                    value
                        .trim()
                        .parse::<usize>()
                        .ok()
                        .filter(|n| *n >= 2)
                        .ok_or_else(|| bad("must be a whole number of buckets, 2 or more"))?,
                );
            }
            other if !COMMON_PARAMS.contains(&other) => p.unused.push(other.to_string()),
            _ => {}
        }
    }
    match (quantiles, buckets) {
        (true, _) if p.bins.is_some() => {
            return Err(
                "parameters bins and age_bucket_method both group the attribute: keep one".into(),
            );
        }
        (true, n) => p.quantile_buckets = Some(n.unwrap_or(3)),
        // Without a method the SDK does not bucket either: say so.
        (false, Some(_)) => p
            .unused
            .push("age_buckets (no age_bucket_method: quantiles)".into()),
        (false, None) => {}
    }
    if bootstrap_on && metric.has_confidence_interval() {
        p.bootstrap = Some(spec);
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn defaults_and_overrides() {
        let p = parse(MetricKey::DisparateImpact, &raw(&[])).unwrap();
        assert_eq!(p.bootstrap, Some(BootstrapSpec::default()));
        let p = parse(
            MetricKey::DisparateImpact,
            &raw(&[("bins", "[25, 60]"), ("bootstrap_resamples", "0")]),
        )
        .unwrap();
        assert_eq!(p.bins, Some(vec![25.0, 60.0]));
        assert_eq!(p.bootstrap, None);
    }

    #[test]
    fn bad_values_name_the_parameter() {
        let e = parse(
            MetricKey::DisparateImpact,
            &raw(&[("confidence_level", "95")]),
        )
        .unwrap_err();
        assert!(e.starts_with("parameter confidence_level=\"95\""), "{e}");
        assert!(parse(MetricKey::DisparateImpact, &raw(&[("bins", "60, 25")])).is_err());
    }

    #[test]
    fn unknown_parameters_are_reported() {
        let p = parse(MetricKey::Accuracy, &raw(&[("positve_label", "1")])).unwrap();
        assert_eq!(p.unused, ["positve_label"]);
    }
}
