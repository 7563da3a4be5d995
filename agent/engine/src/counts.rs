//! Stage one as requests: each count table the metrics need, described
//! independently of the engine that computes it. Polars answers them here
//! (`source`); Spark and DuckDB answer them where the data lives, and only
//! the small answer frames travel (`remote`, docs/engines.md).

use polars::prelude::{DataFrame, DataType};
use serde::Serialize;

use crate::tables::Grouping;

/// What kind of values a column holds, with the engine's name for its type
/// (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnType {
    pub kind: Kind,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Int,
    Float,
    Text,
    Other,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Bool => "bool",
            Kind::Int => "int",
            Kind::Float => "float",
            Kind::Text => "text",
            Kind::Other => "other",
        }
    }
}

impl ColumnType {
    /// A polars column's type.
    pub fn of(dtype: &DataType) -> ColumnType {
        let kind = match dtype {
            DataType::Boolean => Kind::Bool,
            d if d.is_integer() => Kind::Int,
            d if d.is_float() => Kind::Float,
            DataType::String | DataType::Categorical(..) | DataType::Enum(..) => Kind::Text,
            _ => Kind::Other,
        };
        ColumnType {
            kind,
            name: dtype.to_string(),
        }
    }

    /// A type another engine reported: `bool`, `int`, `float` or `text`,
    /// with its own name after a colon (`int:bigint`), or any other name.
    pub fn parse(s: &str) -> ColumnType {
        let (kind, name) = s.split_once(':').unwrap_or((s, s));
        let kind = match kind {
            "bool" => Kind::Bool,
            "int" => Kind::Int,
            "float" => Kind::Float,
            "text" => Kind::Text,
            _ => Kind::Other,
        };
        ColumnType {
            kind,
            name: name.to_string(),
        }
    }

    pub fn is_numeric(&self) -> bool {
        matches!(self.kind, Kind::Int | Kind::Float)
    }
}

/// A value a column is compared with.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Literal {
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Compared with the column cast to text.
    Text(String),
}

/// `column == equals` (`holds`), or its negation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Term {
    pub column: String,
    pub equals: Literal,
    pub holds: bool,
}

impl Term {
    pub fn not(&self) -> Term {
        Term {
            holds: !self.holds,
            ..self.clone()
        }
    }
}

/// A count table to compute. The answer is a frame with the columns named
/// in each variant's comment; groups keep the attribute's own type (or a
/// bin index), so labels are made here, the same way for every engine.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Request {
    /// `rows`.
    Rows,
    /// A would-be binary column: `nulls`; if `range`, `min` and `max` (as
    /// floats); if `other`, `other`: values that are neither 0 nor 1.
    Stats {
        column: String,
        range: bool,
        other: bool,
    },
    /// Per group (`group`, absent without a grouping): rows `n`, and `s0`,
    /// `s1`, ...: the rows where every term of that sum holds.
    Counts {
        group: Option<Grouping>,
        sums: Vec<Vec<Term>>,
    },
    /// Rows `n` per value `group` of a column.
    Classes { column: String },
    /// `rows`, and the null count of each column as `c0`, `c1`, ...
    Nulls { columns: Vec<String> },
    /// Rows `n` per combination of the quasi-identifiers (`q0`, `q1`, ...)
    /// and the sensitive column (`sensitive`).
    Equivalence {
        quasi_identifiers: Vec<String>,
        sensitive: Option<String>,
    },
    /// Rows `n` per `group`, target `y` and prediction `p` (both as text).
    Confusion {
        group: Grouping,
        target: String,
        prediction: String,
    },
    /// Per combination of the groupings (`g0`, `g1`, ...; one row of all
    /// rows without any): rows `n`, the score's `nulls`, and its `sum`,
    /// `min` and `max` as floats.
    Scores {
        groups: Vec<Grouping>,
        score: String,
    },
    /// `min`, `max` and `e0`, `e1`, ...: the quantile at each level, with
    /// linear interpolation, of the column as floats.
    Quantiles { column: String, levels: Vec<f64> },
    /// The order-independent data fingerprint over the columns (in this
    /// order): `rows`, the engine's row hash `method`, and `p0`..`p3`: the
    /// sums of each 16-bit slice of the row hashes (docs/engines.md). Only
    /// engines that count where the data lives are asked it.
    Digest { columns: Vec<String> },
}

/// Answers requests over one dataset.
pub trait Counter {
    /// The type of a column of the dataset.
    fn column_type(&self, column: &str) -> Result<ColumnType, String>;

    /// The answer to `request`.
    fn answer(&self, request: &Request) -> Result<DataFrame, String>;
}
