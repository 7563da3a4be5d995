//! Privacy and data-governance metrics over equivalence classes.
//!
//! An equivalence class is a distinct combination of quasi-identifier values.
//! The data engine counts rows per class (and per class × sensitive value);
//! these functions turn the counts into k-anonymity, l-diversity and
//! t-closeness. Data minimisation and completeness need only column facts.

use std::collections::{BTreeMap, HashMap};

use crate::compute::{GroupBreakdown, MetricError, MetricValue};

/// How many of the worst classes a result lists; a dataset can have millions.
pub const WORST_CLASSES_SHOWN: usize = 10;

fn breakdown(group: &str, n: u64, rate: (&'static str, f64)) -> GroupBreakdown {
    GroupBreakdown {
        group: group.to_string(),
        n,
        positives: None,
        counts: None,
        rates: venturalitica_vocab::results::rates([(rate.0, Some(rate.1))]),
    }
}

/// k = the size of the smallest equivalence class.
pub fn k_anonymity(class_sizes: &[(String, u64)]) -> Result<MetricValue, MetricError> {
    let mut sorted: Vec<&(String, u64)> = class_sizes.iter().filter(|(_, n)| *n > 0).collect();
    sorted.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    let k = sorted.first().ok_or(MetricError::Empty)?.1;
    let groups = sorted
        .iter()
        .take(WORST_CLASSES_SHOWN)
        .map(|(g, n)| breakdown(g, *n, ("class_size", *n as f64)))
        .collect();
    Ok(MetricValue {
        value: k as f64,
        groups,
    })
}

/// Per class, the sensitive-value counts: `(class, sensitive value, rows)`.
pub type ClassSensitiveCounts = [(String, String, u64)];

fn by_class(rows: &ClassSensitiveCounts) -> BTreeMap<&str, Vec<(&str, u64)>> {
    let mut classes: BTreeMap<&str, Vec<(&str, u64)>> = BTreeMap::new();
    for (class, value, n) in rows.iter().filter(|r| r.2 > 0) {
        classes.entry(class).or_default().push((value, *n));
    }
    classes
}

/// l = the fewest distinct sensitive values in any equivalence class.
pub fn l_diversity(rows: &ClassSensitiveCounts) -> Result<MetricValue, MetricError> {
    let classes = by_class(rows);
    let mut per_class: Vec<(&str, u64, usize)> = classes
        .iter()
        .map(|(c, values)| (*c, values.iter().map(|v| v.1).sum(), values.len()))
        .collect();
    per_class.sort_by(|a, b| a.2.cmp(&b.2).then_with(|| a.0.cmp(b.0)));
    let l = per_class.first().ok_or(MetricError::Empty)?.2;
    let groups = per_class
        .iter()
        .take(WORST_CLASSES_SHOWN)
        .map(|(c, n, distinct)| breakdown(c, *n, ("distinct_sensitive_values", *distinct as f64)))
        .collect();
    Ok(MetricValue {
        value: l as f64,
        groups,
    })
}

/// t = the largest distance between a class's distribution of the sensitive
/// attribute and the whole table's, measured as total variation
/// (½ Σ |p − q|), the Earth Mover's Distance under equal ground distance.
pub fn t_closeness(rows: &ClassSensitiveCounts) -> Result<MetricValue, MetricError> {
    let total: u64 = rows.iter().map(|r| r.2).sum();
    if total == 0 {
        return Err(MetricError::Empty);
    }
    let mut overall: HashMap<&str, u64> = HashMap::new();
    for (_, value, n) in rows {
        *overall.entry(value.as_str()).or_default() += n;
    }
    let classes = by_class(rows);
    let mut distances: Vec<(&str, u64, f64)> = classes
        .iter()
        .map(|(class, values)| {
            let n: u64 = values.iter().map(|v| v.1).sum();
            let in_class: HashMap<&str, u64> = values.iter().copied().collect();
            let tv: f64 = overall
                .iter()
                .map(|(value, &all)| {
                    let p = *in_class.get(value).unwrap_or(&0) as f64 / n as f64;
                    let q = all as f64 / total as f64;
                    (p - q).abs()
                })
                .sum::<f64>()
                / 2.0;
            (*class, n, tv)
        })
        .collect();
    distances.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| a.0.cmp(b.0)));
    let t = distances.first().ok_or(MetricError::Empty)?.2;
    let groups = distances
        .iter()
        .take(WORST_CLASSES_SHOWN)
        .map(|(c, n, d)| breakdown(c, *n, ("distance", *d)))
        .collect();
    Ok(MetricValue { value: t, groups })
}

/// Special categories of personal data (GDPR art. 9) and direct identifiers,
/// matched case-insensitively against column names when a control does not
/// list its own `sensitive_columns`.
pub const DEFAULT_SENSITIVE_COLUMNS: &[&str] = &[
    "race",
    "ethnicity",
    "ethnic_origin",
    "religion",
    "religious_belief",
    "political_opinion",
    "trade_union",
    "union_membership",
    "health",
    "disability",
    "sexual_orientation",
    "sex_life",
    "genetic",
    "biometric",
    "name",
    "full_name",
    "email",
    "phone",
    "ssn",
    "passport",
    "national_id",
    "address",
];

/// Share of columns that are not sensitive: 1 − |sensitive ∩ columns| / |columns|.
pub fn data_minimization(
    columns: &[String],
    sensitive: &[String],
) -> Result<MetricValue, MetricError> {
    if columns.is_empty() {
        return Err(MetricError::Empty);
    }
    let lowered: Vec<String> = sensitive.iter().map(|s| s.to_ascii_lowercase()).collect();
    let found: Vec<&String> = columns
        .iter()
        .filter(|c| lowered.contains(&c.to_ascii_lowercase()))
        .collect();
    let value = 1.0 - found.len() as f64 / columns.len() as f64;
    let groups = found
        .iter()
        .map(|c| breakdown(c, 0, ("sensitive", 1.0)))
        .collect();
    Ok(MetricValue { value, groups })
}

/// Share of non-null cells over the given `(column, rows, nulls)`.
pub fn completeness(columns: &[(String, u64, u64)]) -> Result<MetricValue, MetricError> {
    let cells: u64 = columns.iter().map(|c| c.1).sum();
    if cells == 0 {
        return Err(MetricError::Empty);
    }
    let nulls: u64 = columns.iter().map(|c| c.2).sum();
    let groups = columns
        .iter()
        .map(|(c, rows, nulls)| {
            breakdown(
                c,
                *rows,
                ("completeness", 1.0 - *nulls as f64 / (*rows).max(1) as f64),
            )
        })
        .collect();
    Ok(MetricValue {
        value: 1.0 - nulls as f64 / cells as f64,
        groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(v: &[(&str, &str, u64)]) -> Vec<(String, String, u64)> {
        v.iter()
            .map(|(a, b, n)| (a.to_string(), b.to_string(), *n))
            .collect()
    }

    #[test]
    fn k_is_the_smallest_class() {
        let sizes = vec![
            ("30|NY".into(), 5),
            ("40|LA".into(), 2),
            ("50|SF".into(), 9),
        ];
        let v = k_anonymity(&sizes).unwrap();
        assert_eq!(v.value, 2.0);
        assert_eq!(v.groups[0].group, "40|LA");
    }

    #[test]
    fn l_and_t_on_a_small_table() {
        let r = rows(&[("a", "flu", 2), ("a", "cancer", 2), ("b", "flu", 4)]);
        assert_eq!(l_diversity(&r).unwrap().value, 1.0);
        // Overall: flu 6/8, cancer 2/8. Class b: flu 1.0 -> TV = 0.25;
        // class a: 0.5/0.5 -> TV = 0.25.
        assert!((t_closeness(&r).unwrap().value - 0.25).abs() < 1e-12);
    }

    #[test]
    fn minimization_counts_sensitive_columns() {
        let cols: Vec<String> = ["age", "Race", "income", "email"]
            .map(String::from)
            .to_vec();
        let sens: Vec<String> = DEFAULT_SENSITIVE_COLUMNS
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(data_minimization(&cols, &sens).unwrap().value, 0.5);
    }

    #[test]
    fn empty_inputs_are_errors() {
        assert_eq!(k_anonymity(&[]), Err(MetricError::Empty));
        assert_eq!(t_closeness(&[]), Err(MetricError::Empty));
        assert_eq!(completeness(&[]), Err(MetricError::Empty));
    }
}
