//! Where the rows are while a policy is evaluated: read into memory once
//! (the default: only the used columns, fastest), or streamed from the file
//! query by query, for data larger than memory.

use polars::prelude::*;

use crate::counts::{ColumnType, Counter, Literal, Request, Term};
use crate::fingerprint::Fingerprinter;

/// Rows per slice when a streamed column is fingerprinted.
const STREAM_SLICE_ROWS: u64 = 1 << 20;

/// The used columns of a dataset, in memory or behind a streaming scan.
pub(crate) enum Source {
    Memory(DataFrame),
    Stream(Box<LazyFrame>),
}

impl Source {
    /// A query over the rows.
    pub fn lazy(&self) -> LazyFrame {
        match self {
            Source::Memory(df) => df.clone().lazy(),
            Source::Stream(lf) => (**lf).clone(),
        }
    }

    /// Runs a query; streamed sources run on polars' streaming engine, which
    /// processes the file in batches instead of loading it.
    pub fn collect(&self, query: LazyFrame) -> PolarsResult<DataFrame> {
        match self {
            Source::Memory(_) => query.collect(),
            Source::Stream(_) => Ok(query
                .collect_with_engine(Engine::Streaming)?
                .unwrap_single()),
        }
    }

    pub fn rows(&self) -> PolarsResult<u64> {
        match self {
            Source::Memory(df) => Ok(df.height() as u64),
            Source::Stream(lf) => {
                let df = self.collect(lf.clone().select([len().alias("rows")]))?;
                let rows = df
                    .column("rows")?
                    .as_materialized_series()
                    .cast(&DataType::UInt64)?;
                Ok(rows.u64()?.get(0).unwrap_or(0))
            }
        }
    }

    /// SHA-256 of the columns (see `fingerprint`); a streamed column is read
    /// in slices, one column at a time, so memory stays bounded.
    pub fn fingerprint(&self, columns: &[String]) -> PolarsResult<String> {
        let mut names = columns.to_vec();
        names.sort();
        let mut fp = Fingerprinter::new();
        match self {
            Source::Memory(df) => {
                for name in &names {
                    let s = df.column(name)?.as_materialized_series();
                    fp.column(name, s.dtype(), s.len() as u64, s.null_count() > 0)?;
                    fp.values(s)?;
                }
            }
            Source::Stream(lf) => {
                let rows = self.rows()?;
                for name in &names {
                    let c = col(name.as_str());
                    let stats =
                        self.collect(lf.clone().select([c.clone().null_count().alias("nulls")]))?;
                    let nulls = stats
                        .column("nulls")?
                        .as_materialized_series()
                        .cast(&DataType::UInt64)?;
                    let has_nulls = nulls.u64()?.get(0).unwrap_or(0) > 0;
                    let dtype = lf
                        .clone()
                        .collect_schema()?
                        .get(name.as_str())
                        .cloned()
                        .unwrap_or(DataType::Null);
                    fp.column(name, &dtype, rows, has_nulls)?;
                    let mut offset = 0;
                    while offset < rows {
                        let slice = lf
                            .clone()
                            .select([c.clone()])
                            .slice(offset as i64, STREAM_SLICE_ROWS as IdxSize);
                        let part = self.collect(slice)?;
                        fp.values(part.column(name)?.as_materialized_series())?;
                        offset += STREAM_SLICE_ROWS;
                    }
                }
            }
        }
        Ok(fp.finish())
    }
}

/// Polars answers every request with one query over the used columns.
impl Counter for Source {
    fn column_type(&self, column: &str) -> Result<ColumnType, String> {
        let schema = match self {
            Source::Memory(df) => df.schema().clone(),
            Source::Stream(lf) => (**lf).clone().collect_schema().map_err(|e| e.to_string())?,
        };
        schema
            .get(column)
            .map(ColumnType::of)
            .ok_or_else(|| format!("no column {column:?}"))
    }

    fn answer(&self, request: &Request) -> Result<DataFrame, String> {
        if let Source::Memory(df) = self {
            let fast = match request {
                // One sort for every level (a reference's 99 quantiles).
                Request::Quantiles { column, levels } if levels.len() > 8 => {
                    Some(crate::sorted::quantiles(df, column, levels))
                }
                // A column over its own many bins (a drift histogram).
                Request::Scores { groups, score }
                    if groups.len() == 1
                        && groups[0].column == *score
                        && groups[0].bins.as_ref().is_some_and(|b| b.len() > 8) =>
                {
                    Some(crate::sorted::own_bins(df, &groups[0]))
                }
                _ => None,
            };
            if let Some(answer) = fast {
                return answer.map_err(|e| e.to_string());
            }
        }
        let q = self.lazy();
        let query = match request {
            Request::Rows => q.select([len().alias("rows")]),
            Request::Stats {
                column,
                range,
                other,
            } => {
                let c = col(column.as_str());
                let mut exprs = vec![c.clone().null_count().alias("nulls")];
                if *range {
                    exprs.push(c.clone().min().cast(DataType::Float64).alias("min"));
                    exprs.push(c.clone().max().cast(DataType::Float64).alias("max"));
                }
                if *other {
                    let neither = c.clone().neq(lit(0)).and(c.neq(lit(1)));
                    exprs.push(neither.sum().alias("other"));
                }
                q.select(exprs)
            }
            Request::Counts { group, sums } => {
                // No cast on the aggregate: polars only takes its fast group-by
                // path for bare aggregations (a cast on top was 3x slower at
                // 10M rows); the tables cast after.
                let mut aggs = vec![len().alias("n")];
                for (i, terms) in sums.iter().enumerate() {
                    let all = terms
                        .iter()
                        .map(term)
                        .reduce(|a, b| a.and(b))
                        .unwrap_or(lit(true));
                    aggs.push(all.sum().alias(format!("s{i}")));
                }
                match group {
                    Some(g) => q.group_by([g.key_expr()]).agg(aggs),
                    None => q.select(aggs),
                }
            }
            Request::Classes { column } => q
                .group_by([col(column.as_str()).alias("group")])
                .agg([len().alias("n")]),
            Request::Nulls { columns } => {
                let mut exprs: Vec<Expr> = columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| col(c.as_str()).null_count().alias(format!("c{i}")))
                    .collect();
                exprs.push(len().alias("rows"));
                q.select(exprs)
            }
            Request::Equivalence {
                quasi_identifiers,
                sensitive,
            } => {
                let mut keys: Vec<Expr> = quasi_identifiers
                    .iter()
                    .enumerate()
                    .map(|(i, c)| col(c.as_str()).alias(format!("q{i}")))
                    .collect();
                if let Some(s) = sensitive {
                    keys.push(col(s.as_str()).alias("sensitive"));
                }
                q.group_by(keys).agg([len().alias("n")])
            }
            Request::Confusion {
                group,
                target,
                prediction,
            } => q
                .group_by([
                    group.key_expr(),
                    col(target.as_str()).cast(DataType::String).alias("y"),
                    col(prediction.as_str()).cast(DataType::String).alias("p"),
                ])
                .agg([len().alias("n")]),
            Request::Scores { groups, score } => {
                let x = || col(score.as_str()).cast(DataType::Float64);
                let aggs = [
                    len().alias("n"),
                    col(score.as_str()).null_count().alias("nulls"),
                    x().sum().alias("sum"),
                    x().min().alias("min"),
                    x().max().alias("max"),
                ];
                if groups.is_empty() {
                    q.select(aggs)
                } else {
                    let keys: Vec<Expr> = groups
                        .iter()
                        .enumerate()
                        .map(|(i, g)| g.key_expr().alias(format!("g{i}")))
                        .collect();
                    q.group_by(keys).agg(aggs)
                }
            }
            Request::Quantiles { column, levels } => {
                let c = || col(column.as_str()).cast(DataType::Float64);
                let mut exprs = vec![c().min().alias("min"), c().max().alias("max")];
                for (i, level) in levels.iter().enumerate() {
                    exprs.push(
                        c().quantile(lit(*level), QuantileMethod::Linear)
                            .alias(format!("e{i}")),
                    );
                }
                q.select(exprs)
            }
            // Rows in memory have the ordered fingerprint (`Source::fingerprint`).
            Request::Digest { .. } => {
                return Err("the row path fingerprints the columns themselves".into())
            }
        };
        self.collect(query).map_err(|e| e.to_string())
    }
}

/// A term as a polars expression.
fn term(t: &Term) -> Expr {
    let c = col(t.column.as_str());
    let equal = match &t.equals {
        Literal::Bool(true) => c,
        Literal::Bool(false) => c.not(),
        Literal::Int(v) => c.eq(lit(*v)),
        Literal::Float(v) => c.eq(lit(*v)),
        Literal::Text(v) => c.cast(DataType::String).eq(lit(v.clone())),
    };
    if t.holds {
        equal
    } else {
        equal.not()
    }
}
