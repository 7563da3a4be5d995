//! Data fingerprint: SHA-256 over the columns a policy used, so a result can
//! be tied to the exact data it was computed on.
//!
//! Canonical form (version 1): the text `venturalitica-fingerprint-v1\n`,
//! then for each column in name order: its name, a NUL byte, its kind
//! (`int`, `float`, `bool`, `text`), a NUL byte, the row count as u64 LE,
//! then each value: integers as i64 LE, floats as f64 bits LE, booleans as
//! one byte, text as u64 LE byte length + UTF-8 bytes. In a column that
//! contains nulls, each present value is preceded by the byte 0x00 and each
//! null is the single byte 0xFF; a column without nulls has no markers.

use polars::prelude::*;
use sha2::{Digest, Sha256};

use crate::counts::{ColumnType, Kind};

const FLUSH: usize = 1 << 16;

struct Hasher {
    sha: Sha256,
    buf: Vec<u8>,
}

impl Hasher {
    fn flush(&mut self) {
        self.sha.update(&self.buf);
        self.buf.clear();
    }

    fn put(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= FLUSH {
            self.sha.update(&self.buf);
            self.buf.clear();
        }
    }
}

fn hash_numeric<T, const N: usize>(
    h: &mut Hasher,
    ca: &ChunkedArray<T>,
    has_nulls: bool,
    to_bytes: impl Fn(T::Native) -> [u8; N],
) where
    T: PolarsNumericType,
{
    for arr in ca.downcast_iter() {
        if !has_nulls {
            // Convert a block at a time so the loop vectorises and the
            // hasher sees large slices.
            for block in arr.values().as_slice().chunks(FLUSH / N) {
                h.flush();
                for &v in block {
                    h.buf.extend_from_slice(&to_bytes(v));
                }
            }
        } else {
            for v in arr.iter() {
                match v {
                    Some(&v) => {
                        h.put(&[0]);
                        h.put(&to_bytes(v));
                    }
                    None => h.put(&[0xFF]),
                }
            }
        }
    }
}

/// Builds a fingerprint column by column; a column's values may arrive in
/// several slices, which hash exactly as the whole column would.
pub struct Fingerprinter {
    hasher: Hasher,
    kind: Kind,
    has_nulls: bool,
}

/// The kind a column is hashed as: the engine's own classification, with
/// every type that is not a number or a boolean hashed as its text.
fn kind_of(dtype: &DataType) -> Kind {
    match ColumnType::of(dtype).kind {
        Kind::Other => Kind::Text,
        kind => kind,
    }
}

impl Default for Fingerprinter {
    fn default() -> Self {
        Self::new()
    }
}

impl Fingerprinter {
    pub fn new() -> Self {
        let mut hasher = Hasher {
            sha: Sha256::new(),
            buf: Vec::with_capacity(FLUSH + 64),
        };
        hasher.put(b"venturalitica-fingerprint-v1\n");
        Fingerprinter {
            hasher,
            kind: Kind::Text,
            has_nulls: false,
        }
    }

    /// Starts a column: its name, kind and row count; its values follow.
    pub fn column(
        &mut self,
        name: &str,
        dtype: &DataType,
        rows: u64,
        has_nulls: bool,
    ) -> PolarsResult<()> {
        self.kind = kind_of(dtype);
        self.has_nulls = has_nulls;
        let h = &mut self.hasher;
        h.put(name.as_bytes());
        h.put(&[0]);
        h.put(self.kind.name().as_bytes());
        h.put(&[0]);
        h.put(&rows.to_le_bytes());
        Ok(())
    }

    /// Hashes the next values of the current column.
    pub fn values(&mut self, s: &Series) -> PolarsResult<()> {
        let (h, has_nulls) = (&mut self.hasher, self.has_nulls);
        match self.kind {
            Kind::Int => hash_numeric(
                h,
                s.cast(&DataType::Int64)?.i64()?,
                has_nulls,
                i64::to_le_bytes,
            ),
            Kind::Float => hash_numeric(
                h,
                s.cast(&DataType::Float64)?.f64()?,
                has_nulls,
                |v: f64| v.to_bits().to_le_bytes(),
            ),
            Kind::Bool => {
                for v in s.bool()?.iter() {
                    match (v, has_nulls) {
                        (Some(b), false) => h.put(&[u8::from(b)]),
                        (Some(b), true) => h.put(&[0, u8::from(b)]),
                        (None, _) => h.put(&[0xFF]),
                    }
                }
            }
            Kind::Text | Kind::Other => {
                let text = s.cast(&DataType::String)?;
                for v in text.str()?.iter() {
                    match v {
                        Some(t) => {
                            if has_nulls {
                                h.put(&[0]);
                            }
                            h.put(&(t.len() as u64).to_le_bytes());
                            h.put(t.as_bytes());
                        }
                        None => h.put(&[0xFF]),
                    }
                }
            }
        }
        Ok(())
    }

    pub fn finish(self) -> String {
        let Hasher { mut sha, buf } = self.hasher;
        sha.update(&buf);
        hex::encode(sha.finalize())
    }
}

/// Fingerprints every column of `df`.
#[cfg(test)]
fn fingerprint(df: &DataFrame) -> PolarsResult<String> {
    let mut names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    names.sort();
    let mut fp = Fingerprinter::new();
    for name in names {
        let s = df.column(&name)?.as_materialized_series();
        fp.column(&name, s.dtype(), s.len() as u64, s.null_count() > 0)?;
        fp.values(s)?;
    }
    Ok(fp.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_of_columns_does_not_matter_but_values_do() {
        let a = df!("x" => [1i64, 2, 3], "y" => ["a", "b", "c"]).unwrap();
        let b = df!("y" => ["a", "b", "c"], "x" => [1i64, 2, 3]).unwrap();
        let c = df!("x" => [1i64, 2, 4], "y" => ["a", "b", "c"]).unwrap();
        assert_eq!(fingerprint(&a).unwrap(), fingerprint(&b).unwrap());
        assert_ne!(fingerprint(&a).unwrap(), fingerprint(&c).unwrap());
    }

    #[test]
    fn slices_hash_like_the_whole_column() {
        let df =
            df!("x" => [Some(1i64), None, Some(3), Some(4)], "t" => ["a", "bb", "c", "d"]).unwrap();
        let mut fp = Fingerprinter::new();
        for name in ["t", "x"] {
            let s = df.column(name).unwrap().as_materialized_series();
            fp.column(name, s.dtype(), 4, s.null_count() > 0).unwrap();
            fp.values(&s.slice(0, 3)).unwrap();
            fp.values(&s.slice(3, 1)).unwrap();
        }
        assert_eq!(fp.finish(), fingerprint(&df).unwrap());
    }

    #[test]
    fn integer_width_does_not_matter() {
        let a = df!("x" => [1i32, 2, 3]).unwrap();
        let b = df!("x" => [1i64, 2, 3]).unwrap();
        assert_eq!(fingerprint(&a).unwrap(), fingerprint(&b).unwrap());
    }

    #[test]
    fn matches_the_documented_canonical_form() {
        let df = df!("x" => [7i64]).unwrap();
        let mut expect = Sha256::new();
        expect.update(b"venturalitica-fingerprint-v1\nx\0int\0");
        expect.update(1u64.to_le_bytes());
        expect.update(7i64.to_le_bytes());
        assert_eq!(fingerprint(&df).unwrap(), hex::encode(expect.finalize()));
    }
}
