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
        self.missing.get_mut().retain(|r| request_key(r) != key);
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

/// The order-independent fingerprint of `columns` (in the order they were
/// hashed) from the engine's sums, and its method: SHA-256 over a version
/// line, the engine's row hash, each column's name and kind, the row count
/// and the four sums of the row hashes' 16-bit slices (docs/engines.md).
pub fn rowset_fingerprint(
    answers: &Answers,
    columns: &[String],
) -> Result<(String, &'static str), String> {
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
    let method = match text("method")?.as_str() {
        "xxhash64" => "rowset-xxhash64-v1",
        "md5" => "rowset-md5-v1",
        other => {
            return Err(format!(
                "unknown row hash {other:?} in the engine's fingerprint"
            ))
        }
    };
    let number = |name: &str| -> Result<u64, String> {
        let t = text(name)?;
        t.trim()
            .parse::<u64>()
            .map_err(|_| format!("the engine's fingerprint {name} {t:?} is not a whole number"))
    };
    let mut h = Sha256::new();
    h.update(format!("venturalitica-{method}\n").as_bytes());
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
    h.update(format!("rows={}", number("rows")?).as_bytes());
    for i in 0..4 {
        h.update(format!(" p{i}={}", number(&format!("p{i}"))?).as_bytes());
    }
    Ok((hex::encode(h.finalize()), method))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use venturalitica_policy::parse_policy;

    use super::*;
    use crate::counts::Kind;
    use crate::evaluate::{evaluate, evaluate_counts, Counted, DataSet};
    use crate::reference::References;
    use crate::source::Source;
    use crate::Mapping;

    const POLICY: &str = "\
- id: di
  metric_key: disparate_impact
  operator: '>='
  threshold: 0.8
  input.dimension: age
  age_bucket_method: quantiles
  age_buckets: '3'
- id: eo
  metric_key: equalized_odds_diff
  operator: '<='
  threshold: 0.5
  input.dimension: sex
  input.prediction: yhat
- id: acc
  metric_key: accuracy_score
  operator: '>='
  threshold: 0.5
  input.prediction: yhat
";

    fn frame() -> DataFrame {
        df!(
            "sex" => ["f", "f", "f", "f", "m", "m", "m", "m", "m", "f"],
            "age" => [20i64, 31, 45, 52, 23, 38, 41, 60, 29, 33],
            "target" => [1i64, 1, 0, 0, 1, 1, 0, 0, 0, 1],
            "yhat" => [1i64, 1, 1, 0, 1, 0, 0, 1, 0, 1],
        )
        .unwrap()
    }

    fn digest_frame(method: &str, rows: i64, parts: [i64; 4]) -> DataFrame {
        df!(
            "rows" => [rows],
            "method" => [method],
            "p0" => [parts[0]],
            "p1" => [parts[1]],
            "p2" => [parts[2]],
            "p3" => [parts[3]],
        )
        .unwrap()
    }

    /// Another engine, played by polars over the same rows: asked round by
    /// round, it ends with the row path's results.
    #[test]
    fn an_evaluation_asks_until_every_table_is_answered() {
        let policy = parse_policy(Path::new("p.yaml"), POLICY).unwrap();
        let engine = Source::Memory(frame());
        let columns = frame()
            .schema()
            .iter()
            .map(|(n, t)| (n.to_string(), ColumnType::of(t)))
            .collect();
        let mut answers = Answers::new(columns);
        let mut rounds = 0;
        let results = loop {
            rounds += 1;
            assert!(rounds < 6, "no end to the rounds");
            match evaluate_counts(
                &policy,
                &answers,
                &Mapping::new(),
                &References::none(),
                "test",
                "test",
            )
            .unwrap()
            {
                Counted::Done(results) => break results,
                Counted::Need(requests) => {
                    assert!(!requests.is_empty());
                    for r in requests {
                        let frame = match &r {
                            Request::Digest { .. } => digest_frame("md5", 10, [1, 2, 3, 4]),
                            other => engine.answer(other).unwrap(),
                        };
                        answers.insert(request_key(&r), frame);
                    }
                }
            }
        };
        // Types and quantiles first, then the tables binned by them.
        assert!(rounds >= 3, "{rounds} rounds");
        let rows = evaluate(
            &policy,
            DataSet {
                frame: frame().lazy(),
                streaming: false,
                source: "test".into(),
            },
            &Mapping::new(),
            &References::none(),
        )
        .unwrap();
        let pick = |r: &crate::Results| -> Vec<(String, Option<f64>, String)> {
            r.controls
                .iter()
                .map(|c| (c.id.clone(), c.actual_value, format!("{:?}", c.ci)))
                .collect()
        };
        assert_eq!(pick(&results), pick(&rows));
        assert_eq!(results.data.rows, Some(10));
        assert_eq!(results.data.counted_by.as_deref(), Some("test"));
        assert_eq!(
            results.data.fingerprint_method.as_deref(),
            Some("rowset-md5-v1")
        );
    }

    #[test]
    fn the_rowset_fingerprint_depends_on_the_sums_the_hash_and_the_columns_only() {
        let types = |kind: &str| vec![("a".to_string(), ColumnType::parse(kind))];
        let request = Request::Digest {
            columns: vec!["a".into()],
        };
        let fp = |kind: &str, frame: DataFrame| {
            let mut a = Answers::new(types(kind));
            a.insert(request_key(&request), frame);
            rowset_fingerprint(&a, &["a".to_string()])
        };
        let parts = [9, 8, 7, 6];
        let (base, method) = fp("int:bigint", digest_frame("xxhash64", 3, parts)).unwrap();
        assert_eq!(method, "rowset-xxhash64-v1");
        // An engine's width of the same kind is the same data.
        assert_eq!(
            fp("int:integer", digest_frame("xxhash64", 3, parts))
                .unwrap()
                .0,
            base
        );
        for other in [
            fp("text:string", digest_frame("xxhash64", 3, parts)),
            fp("int:bigint", digest_frame("md5", 3, parts)),
            fp("int:bigint", digest_frame("xxhash64", 4, parts)),
            fp("int:bigint", digest_frame("xxhash64", 3, [9, 8, 7, 5])),
        ] {
            assert_ne!(other.unwrap().0, base);
        }
        let unknown = fp("int:bigint", digest_frame("crc32", 3, parts)).unwrap_err();
        assert!(unknown.contains("unknown row hash"), "{unknown}");
        let negative = fp("int:bigint", digest_frame("md5", 3, [-1, 0, 0, 0])).unwrap_err();
        assert!(negative.contains("whole number"), "{negative}");
        // Unanswered: asked for, once.
        let asked = Answers::new(types("int:bigint"));
        assert!(rowset_fingerprint(&asked, &["a".to_string()]).is_err());
        assert!(rowset_fingerprint(&asked, &["a".to_string()]).is_err());
        assert_eq!(asked.missing(), vec![request]);
    }

    #[test]
    fn engine_types_name_their_kind() {
        assert_eq!(ColumnType::parse("int:bigint").kind, Kind::Int);
        assert_eq!(ColumnType::parse("int:bigint").name, "bigint");
        assert_eq!(ColumnType::parse("text:VARCHAR").kind, Kind::Text);
        assert_eq!(ColumnType::parse("other:decimal(10,2)").kind, Kind::Other);
        assert_eq!(ColumnType::parse("timestamp").name, "timestamp");
    }
}
