//! Where the rows are while a policy is evaluated: read into memory once
//! (the default: only the used columns, fastest), or streamed from the file
//! query by query, for data larger than memory.

use polars::prelude::*;

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
