//! Stage one: count tables, asked of whichever engine holds the rows
//! ([`Counter`]) and shaped here, so every engine's answer becomes the same
//! table.
//!
//! Each request is one group-by pass over only the columns it needs. Groups
//! are formed on the raw attribute (or a bin index) and turned into labels
//! after aggregation, so no per-row string casts are paid.

use polars::prelude::*;
use serde::Serialize;

use crate::counts::{ColumnType, Counter, Kind, Literal, Request, Term};
use venturalitica_metrics::{
    BinaryCounts, ClassCounts, ConfusionTable, GroupTable, OutcomeCounts, ScoreCell,
};

/// Label of the group of rows whose attribute is null.
pub const MISSING_GROUP: &str = "(missing)";

/// How rows are grouped: by an attribute's values, or by numeric bins.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grouping {
    pub column: String,
    pub bins: Option<Vec<f64>>,
    /// Bins are `(a, b]` (quantile buckets, as pandas `qcut`) rather than
    /// `[a, b)` (explicit `bins`).
    pub right_closed: bool,
}

impl Grouping {
    /// Rows grouped by the attribute's values.
    pub fn by_value(column: &str) -> Grouping {
        Grouping {
            column: column.to_string(),
            bins: None,
            right_closed: false,
        }
    }
}

fn fmt_edge(x: f64) -> String {
    format!("{x}")
}

/// Bin labels for edges e1 < e2 < ...: `<e1`, `[e1, e2)`, ..., `>=en`, or
/// right-closed `<=e1`, `(e1, e2]`, ..., `>en`.
fn bin_labels(edges: &[f64], right_closed: bool) -> Vec<String> {
    let (below, open, close, above) = if right_closed {
        ("<=", "(", "]", ">")
    } else {
        ("<", "[", ")", ">=")
    };
    let mut labels = vec![format!("{below}{}", fmt_edge(edges[0]))];
    for w in edges.windows(2) {
        labels.push(format!(
            "{open}{}, {}{close}",
            fmt_edge(w[0]),
            fmt_edge(w[1])
        ));
    }
    labels.push(format!("{above}{}", fmt_edge(edges[edges.len() - 1])));
    labels
}

impl Grouping {
    /// Bins need numbers: checked before any engine is asked.
    fn check(&self, src: &dyn Counter) -> Result<(), String> {
        if self.bins.is_some() {
            let ty = src.column_type(&self.column)?;
            if !ty.is_numeric() {
                return Err(format!(
                    "bins need a numeric attribute, but column {:?} is {}",
                    self.column, ty.name
                ));
            }
        }
        Ok(())
    }

    /// The polars expression of the group key: the attribute, or its bin index.
    pub(crate) fn key_expr(&self) -> Expr {
        let c = col(self.column.as_str());
        let Some(edges) = &self.bins else {
            return c.alias("group");
        };
        // Bin index per row: the number of edges at or below the value
        // (strictly below, for right-closed bins).
        let mut idx = lit(0u32);
        for e in edges {
            let past = if self.right_closed {
                c.clone().gt(lit(*e))
            } else {
                c.clone().gt_eq(lit(*e))
            };
            idx = idx + past.cast(DataType::UInt32);
        }
        when(c.is_null())
            .then(lit(NULL).cast(DataType::UInt32))
            .otherwise(idx)
            .alias("group")
    }

    /// Turns the aggregated key column into group labels.
    fn labels(&self, key: &Column) -> Result<Vec<String>, String> {
        let strings = if let Some(edges) = &self.bins {
            let names = bin_labels(edges, self.right_closed);
            // Other engines answer the index in their own integer type.
            let idx = key
                .as_materialized_series()
                .cast(&DataType::UInt32)
                .map_err(|e| e.to_string())?;
            let idx = idx.u32().map_err(|e| e.to_string())?;
            return idx
                .iter()
                .map(|i| match i {
                    None => Ok(MISSING_GROUP.to_string()),
                    Some(i) => names.get(i as usize).cloned().ok_or_else(|| {
                        format!("bin index {i} is outside the {} bins", names.len())
                    }),
                })
                .collect();
        } else {
            key.as_materialized_series()
                .cast(&DataType::String)
                .map_err(|e| e.to_string())?
        };
        let ca = strings.str().map_err(|e| e.to_string())?;
        Ok(ca
            .iter()
            .map(|s| s.unwrap_or(MISSING_GROUP).to_string())
            .collect())
    }
}

/// Checks a column for use as a binary outcome and builds its positive-class
/// test. Numeric and boolean columns default to 1/true, and then any value
/// other than 0/1 is an error; text columns need `positive_label`
/// (everything else is the negative class). Nulls are an error: a rate over
/// the column would silently drop them.
///
/// The checks run on the whole column (null counts are metadata, min/max
/// are vectorised), so the group-by that follows stays a bare count.
pub fn positive(src: &dyn Counter, column: &str, label: Option<&str>) -> Result<Term, String> {
    let ty: ColumnType = src.column_type(column)?;
    // Without a positive_label the values must be 0/1: for integers min and
    // max decide it; floats also need a count (0.5 lies between).
    let range = label.is_none() && ty.is_numeric();
    let stats = src.answer(&Request::Stats {
        column: column.to_string(),
        range,
        other: range && ty.kind == Kind::Float,
    })?;
    let nulls = u64s(&stats, "nulls")?.first().copied().unwrap_or(0);
    if nulls > 0 {
        return Err(format!(
            "column {column:?} has {nulls} missing values; a rate over it would silently drop them"
        ));
    }
    let stat = |name: &str| -> Option<f64> {
        let s = stats
            .column(name)
            .ok()?
            .as_materialized_series()
            .cast(&DataType::Float64)
            .ok()?;
        s.f64().ok()?.get(0)
    };
    let dtype = &ty.name;
    let bad_label =
        |l: &str| format!("positive_label {l:?} does not fit column {column:?} of type {dtype}");
    let not_binary = |example: String| {
        format!(
            "column {column:?} has values other than 0/1 (e.g. {example}); set positive_label to say which value is positive"
        )
    };
    let equals = match ty.kind {
        Kind::Bool => match label.unwrap_or("true").to_ascii_lowercase().as_str() {
            "true" | "1" => Literal::Bool(true),
            "false" | "0" => Literal::Bool(false),
            l => return Err(bad_label(l)),
        },
        Kind::Int => match label {
            None => {
                let example = [stat("min"), stat("max")].into_iter().flatten().find(|v| *v != 0.0 && *v != 1.0);
                if let Some(v) = example {
                    return Err(not_binary(v.to_string()));
                }
                Literal::Int(1)
            }
            Some(l) => Literal::Int(l.trim().parse::<i64>().map_err(|_| bad_label(l))?),
        },
        Kind::Float => match label {
            None => {
                if u64s(&stats, "other")?.first().copied().unwrap_or(0) > 0 {
                    let example = [stat("min"), stat("max")].into_iter().flatten().find(|v| *v != 0.0 && *v != 1.0);
                    return Err(not_binary(example.map(|v| v.to_string()).unwrap_or_else(|| "a fraction".into())));
                }
                Literal::Float(1.0)
            }
            Some(l) => Literal::Float(l.trim().parse::<f64>().map_err(|_| bad_label(l))?),
        },
        Kind::Text => match label {
            None => {
                return Err(format!(
                    "column {column:?} holds text; set the control's positive_label to the value that counts as positive"
                ))
            }
            Some(l) => Literal::Text(l.to_string()),
        },
        Kind::Other => return Err(format!("column {column:?} has type {dtype}, which cannot be a binary outcome")),
    };
    Ok(Term {
        column: column.to_string(),
        equals,
        holds: true,
    })
}

/// A count column of an answer, nulls as 0.
pub(crate) fn u64s(df: &DataFrame, name: &str) -> Result<Vec<u64>, String> {
    let s = df.column(name).map_err(|e| e.to_string())?;
    let s = s
        .as_materialized_series()
        .cast(&DataType::UInt64)
        .map_err(|e| e.to_string())?;
    Ok(s.u64()
        .map_err(|e| e.to_string())?
        .iter()
        .map(|v| v.unwrap_or(0))
        .collect())
}

/// Rows per group (`n`) and the rows where each sum's terms all hold
/// (`s0`, `s1`, ...), with the groups' labels.
fn counts(
    src: &dyn Counter,
    grouping: Option<&Grouping>,
    sums: Vec<Vec<Term>>,
) -> Result<(DataFrame, Vec<String>), String> {
    if let Some(g) = grouping {
        g.check(src)?;
    }
    let df = src.answer(&Request::Counts {
        group: grouping.cloned(),
        sums,
    })?;
    let groups = match grouping {
        Some(g) => g.labels(df.column("group").map_err(|e| e.to_string())?)?,
        // One row over everything (an engine may answer none for no rows).
        None => vec!["(all)".to_string(); df.height()],
    };
    Ok((df, groups))
}

/// Rows and positives per group (outcome-rate metrics).
pub fn outcome_table(
    src: &dyn Counter,
    grouping: Option<&Grouping>,
    outcome: &Term,
) -> Result<GroupTable<OutcomeCounts>, String> {
    let (df, groups) = counts(src, grouping, vec![vec![outcome.clone()]])?;
    let (n, pos) = (u64s(&df, "n")?, u64s(&df, "s0")?);
    Ok(GroupTable::new(
        groups
            .into_iter()
            .zip(n.into_iter().zip(pos))
            .map(|(g, (n, positives))| (g, OutcomeCounts { n, positives }))
            .collect(),
    ))
}

/// Confusion counts per group (error-rate and performance metrics).
pub fn binary_table(
    src: &dyn Counter,
    grouping: Option<&Grouping>,
    label: &Term,
    prediction: &Term,
) -> Result<GroupTable<BinaryCounts>, String> {
    let (y, p) = (label, prediction);
    // Three sums and a length; TN is the rest of each group.
    let sums = vec![
        vec![y.clone(), p.clone()],
        vec![y.not(), p.clone()],
        vec![y.clone(), p.not()],
    ];
    let (df, groups) = counts(src, grouping, sums)?;
    let (n, tp, fp, fn_) = (
        u64s(&df, "n")?,
        u64s(&df, "s0")?,
        u64s(&df, "s1")?,
        u64s(&df, "s2")?,
    );
    let mut rows = Vec::with_capacity(groups.len());
    for (i, g) in groups.into_iter().enumerate() {
        let tn = n[i]
            .checked_sub(tp[i] + fp[i] + fn_[i])
            .ok_or_else(|| format!("group {g:?}: the engine counted more outcomes than rows"))?;
        let c = BinaryCounts {
            tp: tp[i],
            fp: fp[i],
            tn,
            fn_: fn_[i],
        };
        if c.n() > 0 {
            rows.push((g, c));
        }
    }
    Ok(GroupTable::new(rows))
}

/// Rows per distinct target value (class balance).
pub fn class_table(src: &dyn Counter, column: &str) -> Result<ClassCounts, String> {
    let df = src.answer(&Request::Classes {
        column: column.to_string(),
    })?;
    let grouping = Grouping::by_value(column);
    let labels = grouping.labels(df.column("group").map_err(|e| e.to_string())?)?;
    if labels.iter().any(|l| l == MISSING_GROUP) {
        return Err(format!(
            "column {column:?} has missing values; class balance would silently drop them"
        ));
    }
    let mut classes: Vec<(String, u64)> = labels.into_iter().zip(u64s(&df, "n")?).collect();
    classes.sort();
    Ok(ClassCounts { classes })
}

/// Interior edges of `buckets` equal-count buckets of a numeric column, as
/// pandas `qcut(q=buckets, duplicates="drop")` places them: the quantiles
/// at 1/q, ..., (q-1)/q with linear interpolation, repeated edges (and
/// edges at the minimum or maximum) dropped.
pub fn quantile_edges(src: &dyn Counter, column: &str, buckets: usize) -> Result<Vec<f64>, String> {
    let ty = src.column_type(column)?;
    if !ty.is_numeric() {
        return Err(format!(
            "age_bucket_method: quantiles needs a numeric attribute, but column {column:?} is {}",
            ty.name
        ));
    }
    let levels: Vec<f64> = (1..buckets).map(|i| i as f64 / buckets as f64).collect();
    let df = src.answer(&Request::Quantiles {
        column: column.to_string(),
        levels,
    })?;
    let value = |name: &str| first_f64(&df, name);
    let (Some(lo), Some(hi)) = (value("min")?, value("max")?) else {
        return Err(format!("column {column:?} has no values to bucket"));
    };
    let mut edges: Vec<f64> = Vec::new();
    for i in 1..buckets {
        if let Some(e) = value(&format!("e{}", i - 1))? {
            if e > lo && e < hi && edges.last().is_none_or(|last| e > *last) {
                edges.push(e);
            }
        }
    }
    if edges.is_empty() {
        return Err(format!(
            "column {column:?} has too few distinct values for {buckets} quantile buckets"
        ));
    }
    Ok(edges)
}

/// The most classes a multi-class metric takes: its table has k² cells per
/// group, and the bootstrap resamples them all; more classes than this are
/// a score or a probability passed as a class.
pub const MAX_CLASSES: usize = 100;

/// Rows per (group, target class, predicted class): multi-class metrics.
/// A missing target or prediction is an error, never a dropped row, and so
/// is a column with more than [`MAX_CLASSES`] values.
pub fn confusion_table(
    src: &dyn Counter,
    grouping: &Grouping,
    target: &str,
    prediction: &str,
) -> Result<ConfusionTable, String> {
    let nulls = null_counts(src, &[target.to_string(), prediction.to_string()])?;
    for (column, _, missing) in &nulls {
        if *missing > 0 {
            return Err(format!(
                "column {column:?} has {missing} missing value(s); a multi-class metric needs every row labelled"
            ));
        }
    }
    grouping.check(src)?;
    let df = src.answer(&Request::Confusion {
        group: grouping.clone(),
        target: target.to_string(),
        prediction: prediction.to_string(),
    })?;
    let groups = grouping.labels(df.column("group").map_err(|e| e.to_string())?)?;
    let strings = |name: &str| -> Result<Vec<String>, String> {
        let s = df.column(name).map_err(|e| e.to_string())?;
        let s = s
            .as_materialized_series()
            .cast(&DataType::String)
            .map_err(|e| e.to_string())?;
        Ok(s.str()
            .map_err(|e| e.to_string())?
            .iter()
            .map(|v| v.unwrap_or_default().to_string())
            .collect())
    };
    let (ys, ps, ns) = (strings("y")?, strings("p")?, u64s(&df, "n")?);
    let mut classes: Vec<String> = ys.iter().chain(&ps).cloned().collect();
    classes.sort();
    classes.dedup();
    let k = classes.len();
    if k > MAX_CLASSES {
        return Err(format!(
            "columns {target:?} and {prediction:?} hold {k} distinct values together: a multi-class metric compares at most {MAX_CLASSES} classes (is one a score or a probability? turn it into classes first)"
        ));
    }
    let index = |c: &str| classes.binary_search_by(|x| x.as_str().cmp(c)).unwrap_or(0);
    let mut per_group: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    for i in 0..df.height() {
        let counts = per_group
            .entry(groups[i].clone())
            .or_insert_with(|| vec![0; k * k]);
        counts[index(&ys[i]) * k + index(&ps[i])] += ns[i];
    }
    Ok(ConfusionTable {
        classes,
        groups: per_group.into_iter().collect(),
    })
}

/// `(column, rows, nulls)` for each column.
pub fn null_counts(
    src: &dyn Counter,
    columns: &[String],
) -> Result<Vec<(String, u64, u64)>, String> {
    let df = src.answer(&Request::Nulls {
        columns: columns.to_vec(),
    })?;
    let rows = u64s(&df, "rows")?.first().copied().unwrap_or(0);
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let nulls = u64s(&df, &format!("c{i}"))?.first().copied().unwrap_or(0);
            Ok((c.clone(), rows, nulls))
        })
        .collect()
}

/// `(equivalence class, sensitive value, rows)`; without a sensitive
/// column the value is empty and the rows are the class size.
pub fn equivalence_classes(
    src: &dyn Counter,
    quasi_identifiers: &[String],
    sensitive: Option<&str>,
) -> Result<Vec<(String, String, u64)>, String> {
    let df = src.answer(&Request::Equivalence {
        quasi_identifiers: quasi_identifiers.to_vec(),
        sensitive: sensitive.map(str::to_string),
    })?;
    let as_labels = |name: &str| -> Result<Vec<String>, String> {
        let g = Grouping::by_value(name);
        g.labels(df.column(name).map_err(|e| e.to_string())?)
    };
    let qi_labels: Vec<Vec<String>> = (0..quasi_identifiers.len())
        .map(|i| as_labels(&format!("q{i}")))
        .collect::<Result<_, _>>()?;
    let sens = match sensitive {
        Some(_) => Some(as_labels("sensitive")?),
        None => None,
    };
    let n = u64s(&df, "n")?;
    Ok((0..df.height())
        .map(|i| {
            let class = qi_labels
                .iter()
                .map(|l| l[i].as_str())
                .collect::<Vec<_>>()
                .join(" | ");
            let value = sens.as_ref().map(|s| s[i].clone()).unwrap_or_default();
            (class, value, n[i])
        })
        .collect())
}

/// The per-case score reduced per combination of the groupings (one cell
/// of every row without any). The score must be numeric (or boolean) and
/// complete: a mean over the scores that are there would silently drop the
/// cases whose score is missing.
pub fn score_table(
    src: &dyn Counter,
    groupings: &[Grouping],
    score: &str,
) -> Result<GroupTable<ScoreCell>, String> {
    let ty = src.column_type(score)?;
    if !(ty.is_numeric() || ty.kind == Kind::Bool) {
        return Err(format!(
            "the score column {score:?} is {}, not numeric",
            ty.name
        ));
    }
    for g in groupings {
        g.check(src)?;
    }
    let df = src.answer(&Request::Scores {
        groups: groupings.to_vec(),
        score: score.to_string(),
    })?;
    let nulls: u64 = u64s(&df, "nulls")?.iter().sum();
    if nulls > 0 {
        return Err(format!(
            "the score column {score:?} has {nulls} missing values; a mean over the rest would silently drop those cases: fill or drop them first"
        ));
    }
    let labels: Vec<Vec<String>> = groupings
        .iter()
        .enumerate()
        .map(|(i, g)| g.labels(df.column(&format!("g{i}")).map_err(|e| e.to_string())?))
        .collect::<Result<_, _>>()?;
    let (n, sum, min, max) = (
        u64s(&df, "n")?,
        f64s(&df, "sum")?,
        f64s(&df, "min")?,
        f64s(&df, "max")?,
    );
    let mut cells = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        if n[i] == 0 {
            continue;
        }
        let label = if labels.is_empty() {
            "(all)".to_string()
        } else {
            labels
                .iter()
                .map(|l| l[i].as_str())
                .collect::<Vec<_>>()
                .join(" | ")
        };
        let value = |v: &[Option<f64>]| {
            v[i].filter(|x| x.is_finite())
                .ok_or_else(|| format!("the score column {score:?} has a value that is not finite"))
        };
        cells.push((
            label,
            ScoreCell {
                n: n[i],
                sum: value(&sum)?,
                min: value(&min)?,
                max: value(&max)?,
            },
        ));
    }
    Ok(GroupTable::new(cells))
}

/// A column of an answer as floats.
pub(crate) fn f64s(df: &DataFrame, name: &str) -> Result<Vec<Option<f64>>, String> {
    let s = df.column(name).map_err(|e| e.to_string())?;
    let s = s
        .as_materialized_series()
        .cast(&DataType::Float64)
        .map_err(|e| e.to_string())?;
    Ok(s.f64().map_err(|e| e.to_string())?.iter().collect())
}

/// The first value of an answer's column as a float (a one-row answer).
pub(crate) fn first_f64(df: &DataFrame, name: &str) -> Result<Option<f64>, String> {
    Ok(f64s(df, name)?.first().copied().flatten())
}

/// The rows of the dataset.
pub fn rows(src: &dyn Counter) -> Result<u64, String> {
    let df = src.answer(&Request::Rows)?;
    Ok(u64s(&df, "rows")?.first().copied().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bin_labels_cover_the_line() {
        assert_eq!(bin_labels(&[25.0], false), ["<25", ">=25"]);
        assert_eq!(
            bin_labels(&[25.0, 60.5], false),
            ["<25", "[25, 60.5)", ">=60.5"]
        );
        assert_eq!(
            bin_labels(&[25.0, 60.5], true),
            ["<=25", "(25, 60.5]", ">60.5"]
        );
    }
}
