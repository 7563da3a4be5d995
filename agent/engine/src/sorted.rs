//! Two answers for columns in memory that polars' expressions give slowly
//! when there are many edges: quantiles at many levels (one sort for all
//! of them, not one per level) and a numeric column's histogram over its
//! own bins (a binary search per value, not a comparison per edge). They
//! answer exactly what the generic queries in `source` answer.

use polars::prelude::*;

use crate::tables::Grouping;

/// `min`, `max` and `e0`, `e1`, ...: the column's quantiles at `levels`
/// with linear interpolation (x[⌊h⌋] + (h − ⌊h⌋)(x[⌈h⌉] − x[⌊h⌋]), h =
/// (n − 1) q over the sorted non-null values), as `Request::Quantiles`.
pub(crate) fn quantiles(df: &DataFrame, column: &str, levels: &[f64]) -> PolarsResult<DataFrame> {
    // polars' sort runs on every core; NaN sorts last, as in its quantile.
    let sorted = floats(df, column)?.drop_nulls().sort(false);
    let sorted: Vec<f64> = sorted.into_no_null_iter().collect();
    let at = |q: f64| -> Option<f64> {
        let last = sorted.len().checked_sub(1)?;
        let h = last as f64 * q;
        let (lo, hi) = (h.floor() as usize, (h.ceil() as usize).min(last));
        Some(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
    };
    let mut columns = vec![
        Column::new("min".into(), [sorted.first().copied()]),
        Column::new("max".into(), [sorted.last().copied()]),
    ];
    for (i, q) in levels.iter().enumerate() {
        columns.push(Column::new(format!("e{i}").into(), [at(*q)]));
    }
    DataFrame::new_infer_height(columns)
}

/// The answer to `Request::Scores` grouped by `grouping`, whose column is
/// the score itself and which has bins: per bin index `g0` (null for the
/// null values), `n`, `nulls`, `sum`, `min` and `max`, one row per bin
/// that has rows.
pub(crate) fn own_bins(df: &DataFrame, grouping: &Grouping) -> PolarsResult<DataFrame> {
    let edges = grouping.bins.as_deref().unwrap_or_default();
    let values = floats(df, &grouping.column)?;
    let mut bins: Vec<(u64, f64, f64, f64)> =
        vec![(0, 0.0, f64::INFINITY, f64::NEG_INFINITY); edges.len() + 1];
    let mut nulls = 0u64;
    for v in values.iter() {
        let Some(v) = v else {
            nulls += 1;
            continue;
        };
        // The number of edges the value is past, as `Grouping::key_expr`.
        let i = if grouping.right_closed {
            edges.partition_point(|e| *e < v)
        } else {
            edges.partition_point(|e| *e <= v)
        };
        let bin = &mut bins[i];
        bin.0 += 1;
        bin.1 += v;
        bin.2 = bin.2.min(v);
        bin.3 = bin.3.max(v);
    }
    let mut index: Vec<Option<u32>> = Vec::new();
    let (mut n, mut zeros, mut sum, mut min, mut max) = (vec![], vec![], vec![], vec![], vec![]);
    for (i, (count, total, lo, hi)) in bins.into_iter().enumerate() {
        if count > 0 {
            index.push(Some(i as u32));
            n.push(count);
            zeros.push(0u64);
            sum.push(Some(total));
            min.push(Some(lo));
            max.push(Some(hi));
        }
    }
    if nulls > 0 {
        index.push(None);
        n.push(nulls);
        zeros.push(nulls);
        sum.push(Some(0.0));
        min.push(None);
        max.push(None);
    }
    DataFrame::new_infer_height(vec![
        Column::new("g0".into(), index),
        Column::new("n".into(), n),
        Column::new("nulls".into(), zeros),
        Column::new("sum".into(), sum),
        Column::new("min".into(), min),
        Column::new("max".into(), max),
    ])
}

fn floats(df: &DataFrame, column: &str) -> PolarsResult<Float64Chunked> {
    let s = df
        .column(column)?
        .as_materialized_series()
        .cast(&DataType::Float64)?;
    Ok(s.f64()?.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counts::{Counter, Request};
    use crate::source::Source;

    fn frame() -> DataFrame {
        df!(
            "x" => [Some(3.0), None, Some(1.0), Some(2.5), Some(10.0), Some(2.5), Some(-4.0), Some(7.0)],
        )
        .unwrap()
    }

    /// The generic polars query, for the same request.
    fn generic(request: &Request) -> DataFrame {
        Source::Stream(Box::new(frame().lazy()))
            .answer(request)
            .unwrap()
    }

    fn sorted_rows(df: DataFrame) -> DataFrame {
        df.sort(["g0"], SortMultipleOptions::default().with_nulls_last(true))
            .unwrap()
    }

    #[test]
    fn quantiles_equal_polars_at_every_level() {
        let levels: Vec<f64> = (1..20).map(|i| i as f64 / 20.0).collect();
        let request = Request::Quantiles {
            column: "x".into(),
            levels: levels.clone(),
        };
        let ours = quantiles(&frame(), "x", &levels).unwrap();
        let theirs = generic(&request);
        for name in ours.get_column_names() {
            let a = ours.column(name).unwrap().f64().unwrap().get(0).unwrap();
            let b = theirs.column(name).unwrap().f64().unwrap().get(0).unwrap();
            assert!(
                (a - b).abs() <= 1e-12 * b.abs().max(1.0),
                "{name}: {a} vs {b}"
            );
        }
    }

    #[test]
    fn own_bins_equal_the_generic_query_for_both_closings() {
        for right_closed in [true, false] {
            let grouping = Grouping {
                column: "x".into(),
                // Repeated and data-valued edges, as reference quantiles have.
                bins: Some(vec![1.0, 2.5, 2.5, 7.0]),
                right_closed,
            };
            let request = Request::Scores {
                groups: vec![grouping.clone()],
                score: "x".into(),
            };
            let ours = sorted_rows(own_bins(&frame(), &grouping).unwrap());
            let theirs = sorted_rows(generic(&request));
            assert_eq!(ours.height(), theirs.height(), "{right_closed}");
            for name in ["g0", "n", "nulls", "sum", "min", "max"] {
                let a = ours.column(name).unwrap().cast(&DataType::Float64).unwrap();
                let b = theirs
                    .column(name)
                    .unwrap()
                    .cast(&DataType::Float64)
                    .unwrap();
                let (a, b) = (a.f64().unwrap(), b.f64().unwrap());
                assert_eq!(
                    a.iter().collect::<Vec<_>>(),
                    b.iter().collect::<Vec<_>>(),
                    "{name}, right_closed {right_closed}"
                );
            }
        }
    }
}
