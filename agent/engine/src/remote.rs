//! Policies on data that stays where it lives (Spark, DuckDB): the caller
//! computes count tables in its engine and sends only those. Evaluation
//! runs as for rows, over the answers given so far; what it still needs is
//! returned as requests, until nothing is missing (docs/engines.md).

use std::cell::RefCell;
use std::collections::HashMap;

use polars::prelude::*;
use sha2::{Digest, Sha256};

use crate::counts::{ColumnType, Counter, Request};

/// Says a request has no answer yet; such results are never returned.
const PENDING: &str = "waiting for the engine's answer";

/// The key a request's answer is filed under: its canonical JSON.
pub fn request_key(request: &Request) -> String {
    serde_json::to_string(request).unwrap_or_default()
}

/// What the engine said about the dataset so far.
#[derive(Debug, Default)]
pub struct Answers {
    /// The dataset's columns, in order, with their types.
    pub columns: Vec<(String, ColumnType)>,
    frames: HashMap<String, DataFrame>,
    missing: RefCell<Vec<Request>>,
}

impl Answers {
    pub fn new(columns: Vec<(String, ColumnType)>) -> Answers {
        Answers {
            columns,
            ..Answers::default()
        }
    }

    /// Files the answer to the request whose key is `key`.
    pub fn insert(&mut self, key: String, frame: DataFrame) {
        self.frames.insert(key, frame);
    }

    /// The requests asked for and not answered, each once, in order.
    pub fn missing(&self) -> Vec<Request> {
        self.missing.borrow().clone()
    }

    pub fn column_names(&self) -> Vec<String> {
        self.columns.iter().map(|(n, _)| n.clone()).collect()
    }
}

impl Counter for Answers {
    fn column_type(&self, column: &str) -> Result<ColumnType, String> {
        self.columns
            .iter()
            .find(|(n, _)| n == column)
            .map(|(_, t)| t.clone())
            .ok_or_else(|| format!("no column {column:?}"))
    }

    fn answer(&self, request: &Request) -> Result<DataFrame, String> {
        if let Some(frame) = self.frames.get(&request_key(request)) {
            return Ok(frame.clone());
        }
        let mut missing = self.missing.borrow_mut();
        if !missing.contains(request) {
            missing.push(request.clone());
        }
        Err(PENDING.to_string())
    }
}

/// The order-independent fingerprint of `columns` (already in the order
/// they were hashed) from the engine's sums: SHA-256 over a version line,
/// each column's name and kind, the row count and the two sums.
pub fn rowset_fingerprint(answers: &Answers, columns: &[String]) -> Result<String, String> {
    let df = answers.answer(&Request::Digest {
        columns: columns.to_vec(),
    })?;
    let text = |name: &str| -> Result<String, String> {
        let s = df.column(name).map_err(|e| e.to_string())?;
        let s = s
            .as_materialized_series()
            .cast(&DataType::String)
            .map_err(|e| e.to_string())?;
        let value = s
            .str()
            .map_err(|e| e.to_string())?
            .get(0)
            .map(str::to_string);
        value.ok_or_else(|| format!("the engine's fingerprint has no {name:?}"))
    };
    let number = |name: &str| -> Result<u128, String> {
        let t = text(name)?;
        // Decimal text, as engines print a DECIMAL(38, 0) sum ("12" or "12.0" is not allowed).
        t.trim()
            .parse::<u128>()
            .map_err(|_| format!("the engine's fingerprint {name} {t:?} is not a whole number"))
    };
    // An empty dataset sums to nothing: SQL's SUM is then NULL.
    let rows = number("rows")?;
    let (hi, lo) = if rows == 0 {
        (0, 0)
    } else {
        (number("hi")?, number("lo")?)
    };
    let mut h = Sha256::new();
    h.update(b"venturalitica-rowset-v1\n");
    for name in columns {
        let kind = answers
            .column_type(name)
            .map(|t| t.kind.name())
            .unwrap_or("other");
        h.update(name.as_bytes());
        h.update([0]);
        h.update(kind.as_bytes());
        h.update([0]);
    }
    h.update(format!("rows={rows} hi={hi} lo={lo}").as_bytes());
    Ok(hex::encode(h.finalize()))
}
