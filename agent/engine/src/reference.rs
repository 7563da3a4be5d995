//! Reference snapshots: what drift is measured against. Per column, the
//! counts a drift statistic needs and no row: for a numeric column its
//! quantile bin edges with each bin's rows, sum, minimum and maximum; for a
//! categorical one its categories' counts (docs/metrics.md, "Drift").
//!
//! A snapshot is built from count requests, so any engine builds one where
//! the data lives; the evidence store keeps it under its SHA-256.

use std::collections::BTreeMap;

use polars::prelude::DataType;
use serde::{Deserialize, Serialize};

use crate::counts::{ColumnType, Counter, Kind, Request};
use crate::tables::{self, Grouping};

/// The snapshot format this build writes and reads.
pub const FORMAT: &str = "venturalitica-reference-v1";

/// Quantile bins of a numeric column unless told otherwise: 1 % of the
/// reference's rows each, which bounds the binned KS statistic's distance
/// from the raw one by about 0.01 plus the current data's share of a bin.
pub const DEFAULT_BINS: usize = 100;

/// The most categories a categorical column may have: more is an
/// identifier, whose "distribution" says nothing.
pub const MAX_CATEGORIES: usize = 10_000;

/// A recorded reference dataset, summarised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    pub format: String,
    pub name: String,
    /// Where the reference data came from (a file, a frame's description).
    pub source: String,
    pub created_at: String,
    pub rows: u64,
    pub columns: BTreeMap<String, ColumnSummary>,
    /// Columns left out of a snapshot of every column, with why (a date, an
    /// identifier): said, never silently dropped. A column asked for by
    /// name is never skipped: it is summarised or the snapshot fails.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub skipped: BTreeMap<String, String>,
}

/// One column of a reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ColumnSummary {
    /// Bins `(-inf, e1]`, `(e1, e2]`, ..., `(en, inf)` over the interior
    /// `edges` (non-decreasing: the quantiles at 1/B, ..., (B-1)/B with
    /// linear interpolation; a repeated edge leaves an empty bin).
    Numeric {
        nulls: u64,
        edges: Vec<f64>,
        bins: Vec<Bin>,
    },
    /// Rows per category (the value as text).
    Categorical {
        nulls: u64,
        categories: BTreeMap<String, u64>,
    },
}

/// A numeric bin of one sample; `min` and `max` are absent when it is empty.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bin {
    pub n: u64,
    pub sum: f64,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
}

impl ColumnSummary {
    pub fn kind_name(&self) -> &'static str {
        match self {
            ColumnSummary::Numeric { .. } => "numeric",
            ColumnSummary::Categorical { .. } => "categorical",
        }
    }
}

impl Reference {
    /// The snapshot's bytes as stored (its SHA-256 names it).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// A stored snapshot; `what` names it in errors.
    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<Reference, String> {
        let r: Reference = serde_json::from_slice(bytes)
            .map_err(|e| format!("{what} is not a reference snapshot: {e}"))?;
        if r.format != FORMAT {
            return Err(format!(
                "{what} has format {:?}; this build reads {FORMAT:?}",
                r.format
            ));
        }
        Ok(r)
    }
}

/// Builds a snapshot of `columns` (every column when empty) with `bins`
/// quantile bins per numeric column. Every column is asked of `src` before
/// any error returns, so an engine that counts elsewhere is asked for all
/// of one round's tables at once.
pub fn build(
    src: &dyn Counter,
    all_columns: &[String],
    columns: &[String],
    name: &str,
    source: &str,
    bins: usize,
) -> Result<Reference, String> {
    if !(2..=1000).contains(&bins) {
        return Err(format!(
            "a reference needs 2 to 1000 bins per numeric column, not {bins}"
        ));
    }
    let chosen: Vec<String> = if columns.is_empty() {
        all_columns.to_vec()
    } else {
        columns.to_vec()
    };
    if chosen.is_empty() {
        return Err("the data has no columns to record".into());
    }
    for c in &chosen {
        if !all_columns.contains(c) {
            return Err(format!(
                "no column {c:?}; columns: {}",
                all_columns.join(", ")
            ));
        }
    }
    let rows = tables::rows(src);
    let nulls = tables::null_counts(src, &chosen);
    let summaries: Vec<Result<ColumnSummary, SummaryError>> =
        chosen.iter().map(|c| summarise(src, c, bins)).collect();
    let rows = rows?;
    let nulls = nulls?;
    let mut out = BTreeMap::new();
    let mut skipped = BTreeMap::new();
    for ((column, summary), (_, _, missing)) in chosen.iter().zip(summaries).zip(nulls) {
        let mut summary = match summary {
            Ok(summary) => summary,
            // Every column was asked for: one that has no distribution is
            // left out, and said; one named is an error.
            Err(Unsummarisable(why)) if columns.is_empty() => {
                skipped.insert(column.clone(), why);
                continue;
            }
            Err(e) => return Err(format!("column {column:?}: {e}")),
        };
        match &mut summary {
            ColumnSummary::Numeric { nulls, .. } | ColumnSummary::Categorical { nulls, .. } => {
                *nulls = missing
            }
        }
        out.insert(column.clone(), summary);
    }
    Ok(Reference {
        format: FORMAT.into(),
        name: name.to_string(),
        source: source.to_string(),
        created_at: crate::results::now_rfc3339(),
        rows,
        columns: out,
        skipped,
    })
}

/// Why a column cannot be summarised at all (its type, its number of
/// categories), as against a failure to count it.
#[derive(Debug)]
enum SummaryError {
    Unsummarisable(String),
    Failed(String),
}
use SummaryError::{Failed, Unsummarisable};

impl std::fmt::Display for SummaryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unsummarisable(why) | Failed(why) => f.write_str(why),
        }
    }
}

impl From<String> for SummaryError {
    fn from(why: String) -> SummaryError {
        Failed(why)
    }
}

fn summarise(src: &dyn Counter, column: &str, bins: usize) -> Result<ColumnSummary, SummaryError> {
    let ty = src.column_type(column)?;
    match ty.kind {
        Kind::Int | Kind::Float => {
            let edges = quantile_levels(src, column, bins)?;
            let bins = match &edges {
                Some(edges) => histogram(src, column, edges)?,
                None => vec![],
            };
            Ok(ColumnSummary::Numeric {
                nulls: 0,
                edges: edges.unwrap_or_default(),
                bins,
            })
        }
        Kind::Bool | Kind::Text => {
            let categories = categories(src, column)?;
            if categories.len() > MAX_CATEGORIES {
                return Err(Unsummarisable(format!(
                    "it has {} distinct values, more than the {MAX_CATEGORIES} categories a reference keeps (an identifier?)",
                    categories.len()
                )));
            }
            Ok(ColumnSummary::Categorical {
                nulls: 0,
                categories,
            })
        }
        Kind::Other => Err(Unsummarisable(format!(
            "type {} is neither numeric nor categorical, so it has no distribution to record",
            ty.name
        ))),
    }
}

/// The interior edges at 1/B, ..., (B-1)/B; `None` for a column with no
/// values.
fn quantile_levels(
    src: &dyn Counter,
    column: &str,
    bins: usize,
) -> Result<Option<Vec<f64>>, String> {
    let levels: Vec<f64> = (1..bins).map(|i| i as f64 / bins as f64).collect();
    let df = src.answer(&Request::Quantiles {
        column: column.to_string(),
        levels,
    })?;
    let values = (0..bins - 1)
        .map(|i| tables::first_f64(&df, &format!("e{i}")))
        .collect::<Result<Vec<_>, _>>()?;
    let edges: Option<Vec<f64>> = values.into_iter().collect();
    if let Some(edges) = &edges {
        if edges.iter().any(|e| !e.is_finite()) {
            return Err("it holds values that are not finite (inf or NaN)".into());
        }
    }
    Ok(edges)
}

/// Rows, sum, minimum and maximum of `column` in each bin of `edges`
/// (right-closed), one entry per bin; nulls are in no bin.
pub fn histogram(src: &dyn Counter, column: &str, edges: &[f64]) -> Result<Vec<Bin>, String> {
    let ty: ColumnType = src.column_type(column)?;
    if !ty.is_numeric() {
        return Err(format!(
            "the reference holds numeric bins for it, but here it is {}",
            ty.name
        ));
    }
    let df = src.answer(&Request::Scores {
        groups: vec![Grouping {
            column: column.to_string(),
            bins: Some(edges.to_vec()),
            right_closed: true,
        }],
        score: column.to_string(),
    })?;
    let index = df
        .column("g0")
        .and_then(|c| c.as_materialized_series().cast(&DataType::UInt32))
        .map_err(|e| e.to_string())?;
    let index = index.u32().map_err(|e| e.to_string())?;
    let (n, sum, min, max) = (
        tables::u64s(&df, "n")?,
        tables::f64s(&df, "sum")?,
        tables::f64s(&df, "min")?,
        tables::f64s(&df, "max")?,
    );
    let mut bins = vec![
        Bin {
            n: 0,
            sum: 0.0,
            min: None,
            max: None,
        };
        edges.len() + 1
    ];
    for (row, i) in index.iter().enumerate() {
        // Nulls form their own group, with no bin.
        let Some(i) = i else { continue };
        let bin = bins
            .get_mut(i as usize)
            .ok_or_else(|| format!("bin index {i} is outside the {} bins", edges.len() + 1))?;
        let Some(total) = sum[row] else { continue };
        if !total.is_finite() {
            return Err("it holds values that are not finite (inf or NaN)".into());
        }
        *bin = Bin {
            n: n[row],
            sum: total,
            min: min[row],
            max: max[row],
        };
    }
    Ok(bins)
}

/// Rows per category of `column` (values as text); nulls are left out.
pub fn categories(src: &dyn Counter, column: &str) -> Result<BTreeMap<String, u64>, String> {
    let df = src.answer(&Request::Classes {
        column: column.to_string(),
    })?;
    let labels = df
        .column("group")
        .and_then(|c| c.as_materialized_series().cast(&DataType::String))
        .map_err(|e| e.to_string())?;
    let labels = labels.str().map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    for (label, n) in labels.iter().zip(tables::u64s(&df, "n")?) {
        // Nulls are no category: the snapshot counts them apart.
        if let Some(label) = label {
            *out.entry(label.to_string()).or_insert(0) += n;
        }
    }
    Ok(out)
}

/// Named snapshots an evaluation may compare with, by name, each with its
/// SHA-256 as stored; `default` is the one a drift control uses when it
/// names none (`enforce --reference`, `reference=` in Python).
#[derive(Debug, Clone, Default)]
pub struct References {
    pub by_name: BTreeMap<String, (String, Reference)>,
    pub default: Option<String>,
}

impl References {
    pub fn none() -> References {
        References::default()
    }

    /// The snapshot a control names (or the default), with its SHA-256.
    pub fn get<'a>(
        &'a self,
        named: Option<&'a str>,
    ) -> Result<(&'a str, &'a str, &'a Reference), String> {
        let name = named.or(self.default.as_deref()).ok_or(
            "a drift metric needs a reference: name one with the control's input.reference, or give reference=NAME",
        )?;
        match self.by_name.get(name) {
            Some((sha, r)) => Ok((name, sha.as_str(), r)),
            None => {
                let known: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
                Err(format!(
                    "no reference named {name:?} was recorded here{}; record one with `venturalitica reference --data FILE --name {name}` or vl.reference(df, name={name:?})",
                    if known.is_empty() {
                        String::new()
                    } else {
                        format!(" (recorded: {})", known.join(", "))
                    }
                ))
            }
        }
    }
}
