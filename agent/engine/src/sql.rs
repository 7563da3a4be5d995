//! Each count request as SQL for the engine that answers it where the data
//! lives (Spark, DuckDB): group keys and aggregations, each a `(name, SQL
//! expression)`, written here next to the requests they answer, so the
//! Python side only runs them (docs/engines.md).

use std::collections::HashMap;

use serde::Serialize;

use crate::counts::{Kind, Literal, Request, Term};
use crate::tables::Grouping;

/// An engine's dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Spark,
    DuckDb,
}

/// One request as a group-by: `groups` and `aggs` are `(output column, SQL
/// expression)`. `shares_a_pass`: it may be computed in one job with the
/// other requests of the same groups (the counts of one grouping).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Query {
    pub kind: &'static str,
    pub groups: Vec<(String, String)>,
    pub aggs: Vec<(String, String)>,
    pub shares_a_pass: bool,
}

impl Dialect {
    /// The engine a client names (`spark`, `duckdb`).
    pub fn parse(engine: &str) -> Option<Dialect> {
        match engine {
            "spark" => Some(Dialect::Spark),
            "duckdb" => Some(Dialect::DuckDb),
            _ => None,
        }
    }

    pub fn quote(self, name: &str) -> String {
        match self {
            Dialect::Spark => format!("`{}`", name.replace('`', "``")),
            Dialect::DuckDb => format!("\"{}\"", name.replace('"', "\"\"")),
        }
    }

    /// A string literal. Spark reads a backslash in a literal as an escape,
    /// or not, by `spark.sql.parser.escapedStringLiterals`; so quotes and
    /// backslashes are written as `chr(39)` and `chr(92)` outside the quotes,
    /// and the literal reads the same under either setting.
    fn text(self, value: &str) -> String {
        match self {
            Dialect::Spark => spark_text(value),
            Dialect::DuckDb => format!("'{}'", value.replace('\'', "''")),
        }
    }

    fn text_type(self) -> &'static str {
        match self {
            Dialect::Spark => "STRING",
            Dialect::DuckDb => "VARCHAR",
        }
    }

    /// The exact quantile with linear interpolation at the `i`-th of
    /// `levels`: one aggregate over every level, indexed (each engine
    /// computes an aggregate written identically once; one per level would
    /// hold a map of the column's values per level, which ran Spark out
    /// of heap at 99 levels).
    fn quantile_at(self, c: &str, levels: &str, i: usize) -> String {
        match self {
            Dialect::Spark => format!("element_at(percentile({c}, array({levels})), {})", i + 1),
            Dialect::DuckDb => format!("quantile_cont({c}, [{levels}])[{}]", i + 1),
        }
    }

    /// How the row hash of the fingerprint is computed (docs/engines.md).
    pub fn digest_method(self) -> &'static str {
        match self {
            Dialect::Spark => "xxhash64",
            Dialect::DuckDb => "md5",
        }
    }

    fn shift_right(self, expr: &str, bits: u32) -> String {
        match self {
            // Arithmetic on a signed BIGINT; the mask after it keeps the slice's bits.
            Dialect::Spark => format!("shiftright({expr}, {bits})"),
            Dialect::DuckDb => format!("({expr} >> {bits})"),
        }
    }

    fn literal(self, value: &Literal) -> String {
        match value {
            Literal::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
            Literal::Int(i) => i.to_string(),
            Literal::Float(f) => format!("CAST({f:?} AS DOUBLE)"),
            Literal::Text(t) => self.text(t),
        }
    }

    fn as_text(self, expr: &str) -> String {
        format!("CAST({expr} AS {})", self.text_type())
    }

    fn term(self, term: &Term) -> String {
        let column = self.quote(&term.column);
        let left = match term.equals {
            Literal::Text(_) => self.as_text(&column),
            _ => column,
        };
        let test = format!("({left} = {})", self.literal(&term.equals));
        if term.holds {
            test
        } else {
            format!("(NOT {test})")
        }
    }

    fn count_where(self, condition: &str) -> String {
        format!("CAST(COALESCE(SUM(CASE WHEN {condition} THEN 1 ELSE 0 END), 0) AS BIGINT)")
    }

    fn nulls(self, column: &str) -> String {
        format!("CAST(COUNT(*) - COUNT({}) AS BIGINT)", self.quote(column))
    }

    /// The group key: the attribute, or its bin index (null stays null).
    fn group_key(self, group: &Grouping) -> String {
        let column = self.quote(&group.column);
        let Some(edges) = group.bins.as_ref().filter(|b| !b.is_empty()) else {
            return column;
        };
        let past = if group.right_closed { ">" } else { ">=" };
        let index = edges
            .iter()
            .map(|e| {
                format!(
                    "(CASE WHEN {column} {past} {} THEN 1 ELSE 0 END)",
                    self.literal(&Literal::Float(*e))
                )
            })
            .collect::<Vec<_>>()
            .join(" + ");
        format!("CASE WHEN {column} IS NULL THEN NULL ELSE CAST({index} AS INT) END")
    }

    /// An unsigned 64-bit hash of a row of `columns`: Spark's own xxhash64
    /// (seed 42) over each value widened so the type's width does not
    /// count, and whether it is null (xxhash64 skips nulls, so (NULL, 'a')
    /// and ('a', NULL) would collide); DuckDB's first 64 bits of the MD5 of
    /// the row as text, NUL for null, joined by U+001F.
    fn row_hash(self, columns: &[String], kinds: &HashMap<String, Kind>) -> String {
        match self {
            Dialect::Spark => {
                let parts: Vec<String> = columns
                    .iter()
                    .flat_map(|c| {
                        let widen = match kinds.get(c) {
                            Some(Kind::Int) => "BIGINT",
                            Some(Kind::Float) => "DOUBLE",
                            Some(Kind::Bool) => "BOOLEAN",
                            _ => "STRING",
                        };
                        let column = self.quote(c);
                        [
                            format!("CAST({column} AS {widen})"),
                            format!("isnull({column})"),
                        ]
                    })
                    .collect();
                format!("xxhash64({})", parts.join(", "))
            }
            Dialect::DuckDb => {
                let parts: Vec<String> = columns
                    .iter()
                    .map(|c| format!("COALESCE(CAST({} AS VARCHAR), chr(0))", self.quote(c)))
                    .collect();
                format!(
                    "CAST(('0x' || substr(md5(concat_ws(chr(31), {})), 1, 16)) AS UBIGINT)",
                    parts.join(", ")
                )
            }
        }
    }

    /// `request` as a group-by in this dialect; `kinds`: the dataset's
    /// column kinds (the row hash widens by them).
    pub fn query(self, request: &Request, kinds: &HashMap<String, Kind>) -> Query {
        let q = |c: &str| self.quote(c);
        let named = |n: &str, e: String| (n.to_string(), e);
        let mut groups = Vec::new();
        let (kind, aggs) = match request {
            Request::Rows => ("rows", vec![named("rows", "COUNT(*)".into())]),
            Request::Stats {
                column,
                range,
                other,
            } => {
                let c = q(column);
                let mut aggs = vec![named("nulls", self.nulls(column))];
                if *range {
                    aggs.push(named("min", format!("CAST(MIN({c}) AS DOUBLE)")));
                    aggs.push(named("max", format!("CAST(MAX({c}) AS DOUBLE)")));
                }
                if *other {
                    aggs.push(named(
                        "other",
                        self.count_where(&format!("{c} <> 0 AND {c} <> 1")),
                    ));
                }
                ("stats", aggs)
            }
            Request::Counts { group, sums } => {
                if let Some(g) = group {
                    groups.push(named("group", self.group_key(g)));
                }
                let mut aggs = vec![named("n", "COUNT(*)".into())];
                for (i, terms) in sums.iter().enumerate() {
                    let all: Vec<String> = terms.iter().map(|t| self.term(t)).collect();
                    let condition = if all.is_empty() {
                        "TRUE".to_string()
                    } else {
                        all.join(" AND ")
                    };
                    aggs.push((format!("s{i}"), self.count_where(&condition)));
                }
                ("counts", aggs)
            }
            Request::Classes { column } => {
                groups.push(named("group", q(column)));
                ("classes", vec![named("n", "COUNT(*)".into())])
            }
            Request::Nulls { columns } => {
                let mut aggs: Vec<(String, String)> = columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (format!("c{i}"), self.nulls(c)))
                    .collect();
                aggs.push(named("rows", "COUNT(*)".into()));
                ("nulls", aggs)
            }
            Request::Equivalence {
                quasi_identifiers,
                sensitive,
            } => {
                groups.extend(
                    quasi_identifiers
                        .iter()
                        .enumerate()
                        .map(|(i, c)| (format!("q{i}"), q(c))),
                );
                if let Some(s) = sensitive {
                    groups.push(named("sensitive", q(s)));
                }
                ("equivalence", vec![named("n", "COUNT(*)".into())])
            }
            Request::Confusion {
                group,
                target,
                prediction,
            } => {
                groups.push(named("group", self.group_key(group)));
                groups.push(named("y", self.as_text(&q(target))));
                groups.push(named("p", self.as_text(&q(prediction))));
                ("confusion", vec![named("n", "COUNT(*)".into())])
            }
            Request::Scores { groups: by, score } => {
                groups.extend(
                    by.iter()
                        .enumerate()
                        .map(|(i, g)| (format!("g{i}"), self.group_key(g))),
                );
                let x = format!("CAST({} AS DOUBLE)", q(score));
                let aggs = vec![
                    named("n", "COUNT(*)".into()),
                    named("nulls", self.nulls(score)),
                    named("sum", format!("SUM({x})")),
                    named("min", format!("MIN({x})")),
                    named("max", format!("MAX({x})")),
                ];
                ("scores", aggs)
            }
            Request::Quantiles { column, levels } => {
                let c = format!("CAST({} AS DOUBLE)", q(column));
                let mut aggs = vec![
                    named("min", format!("MIN({c})")),
                    named("max", format!("MAX({c})")),
                ];
                let all = levels
                    .iter()
                    .map(|level| self.literal(&Literal::Float(*level)))
                    .collect::<Vec<_>>()
                    .join(", ");
                aggs.extend(
                    (0..levels.len()).map(|i| (format!("e{i}"), self.quantile_at(&c, &all, i))),
                );
                ("quantiles", aggs)
            }
            Request::Digest { columns } => {
                // A 64-bit hash per row, summed as four 16-bit slices: exact
                // in a BIGINT for 10^14 rows, and the sums do not depend on
                // row order.
                let hash = self.row_hash(columns, kinds);
                let mut aggs = vec![
                    named("rows", "COUNT(*)".into()),
                    named("method", self.text(self.digest_method())),
                ];
                aggs.extend([48, 32, 16, 0].iter().enumerate().map(|(i, shift)| {
                    (
                        format!("p{i}"),
                        format!(
                            "CAST(COALESCE(SUM(({} & 65535)), 0) AS BIGINT)",
                            self.shift_right(&hash, *shift)
                        ),
                    )
                }));
                ("digest", aggs)
            }
        };
        let shares_a_pass = groups.is_empty() || kind == "counts";
        Query {
            kind,
            groups,
            aggs,
            shares_a_pass,
        }
    }
}

/// `value` as a Spark string expression with no escape in it: the runs
/// between quotes and backslashes as plain literals, each quote or backslash
/// as `chr(n)`, joined by `concat` when there is more than one piece.
fn spark_text(value: &str) -> String {
    let mut pieces = Vec::new();
    let mut run = String::new();
    for c in value.chars() {
        match c {
            '\'' | '\\' => {
                if !run.is_empty() {
                    pieces.push(format!("'{}'", std::mem::take(&mut run)));
                }
                pieces.push(format!("chr({})", u32::from(c)));
            }
            c => run.push(c),
        }
    }
    if !run.is_empty() || pieces.is_empty() {
        pieces.push(format!("'{run}'"));
    }
    match pieces.as_slice() {
        [one] => one.clone(),
        _ => format!("concat({})", pieces.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_names_are_quoted_for_each_dialect() {
        let term = Term {
            column: "we`ird\"".into(),
            equals: Literal::Text("it's \\ yes".into()),
            holds: false,
        };
        assert_eq!(
            Dialect::Spark.term(&term),
            "(NOT (CAST(`we``ird\"` AS STRING) = concat('it', chr(39), 's ', chr(92), ' yes')))"
        );
        assert_eq!(
            Dialect::DuckDb.term(&term),
            "(NOT (CAST(\"we`ird\"\"\" AS VARCHAR) = 'it''s \\ yes'))"
        );
        assert_eq!(Dialect::Spark.text(""), "''");
        assert_eq!(Dialect::Spark.text("Women"), "'Women'");
        assert_eq!(Dialect::Spark.text("'"), "chr(39)");
        assert_eq!(Dialect::Spark.text("\\x'"), "concat(chr(92), 'x', chr(39))");
        assert_eq!(
            Dialect::DuckDb.literal(&Literal::Float(30.0)),
            "CAST(30.0 AS DOUBLE)"
        );
    }

    #[test]
    fn binned_groups_and_sharing() {
        let g = Grouping {
            column: "age".into(),
            bins: Some(vec![30.0, 50.0]),
            right_closed: false,
        };
        let query = Dialect::DuckDb.query(
            &Request::Counts {
                group: Some(g),
                sums: vec![vec![]],
            },
            &HashMap::new(),
        );
        assert_eq!(query.groups[0].0, "group");
        assert!(query.groups[0].1.starts_with("CASE WHEN \"age\" IS NULL THEN NULL ELSE CAST((CASE WHEN \"age\" >= CAST(30.0 AS DOUBLE)"));
        assert!(query.shares_a_pass);
        let classes =
            Dialect::Spark.query(&Request::Classes { column: "y".into() }, &HashMap::new());
        assert!(!classes.shares_a_pass);
    }
}
