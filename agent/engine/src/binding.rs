//! Variable → column binding.
//!
//! A policy names variables (`gender`, `target`); the data has columns
//! (`Attribute9`, `class`). A variable binds, in order, to: the column the
//! user mapped it to (`gender=Attribute9`), a column of the same name, the
//! first column present among its synonyms. Anything else is an error that
//! lists the columns that do exist.

use std::collections::BTreeMap;

/// Known alternative column names per variable, tried in order. Kept short
/// on purpose: a wrong guess is worse than a clear error.
pub const SYNONYMS: &[(&str, &[&str])] = &[
    (
        "target",
        &[
            "class",
            "label",
            "y",
            "y_true",
            "true_label",
            "ground_truth",
            "outcome",
        ],
    ),
    (
        "prediction",
        &["y_pred", "pred", "predictions", "predicted"],
    ),
    ("gender", &["sex", "Sex", "Gender", "sexo"]),
    ("sex", &["gender", "Gender", "Sex"]),
    ("age", &["Age", "age_group", "edad"]),
    ("race", &["ethnicity", "Race"]),
];

/// The user's mapping from variable names to column names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapping {
    pub vars: BTreeMap<String, String>,
}

impl Mapping {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, var: impl Into<String>, column: impl Into<String>) -> Self {
        self.vars.insert(var.into(), column.into());
        self
    }
}

/// How a variable found its column, recorded in results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundBy {
    Mapping,
    SameName,
    Synonym,
}

/// Binds one variable, or says why it cannot be bound.
pub fn bind(var: &str, mapping: &Mapping, columns: &[String]) -> Result<(String, BoundBy), String> {
    let has = |c: &str| columns.iter().any(|x| x == c);
    if let Some(col) = mapping.vars.get(var) {
        return if has(col) {
            Ok((col.clone(), BoundBy::Mapping))
        } else {
            Err(format!(
                "variable {var:?} is mapped to column {col:?}, which the data does not have; columns: {}",
                columns.join(", ")
            ))
        };
    }
    if has(var) {
        return Ok((var.to_string(), BoundBy::SameName));
    }
    if let Some((_, candidates)) = SYNONYMS.iter().find(|(v, _)| *v == var) {
        if let Some(c) = candidates.iter().find(|c| has(c)) {
            return Ok((c.to_string(), BoundBy::Synonym));
        }
    }
    Err(format!(
        "variable {var:?} matches no column (map it with {var}=COLUMN); columns: {}",
        columns.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(c: &[&str]) -> Vec<String> {
        c.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn mapping_then_name_then_synonym() {
        let c = cols(&["Attribute9", "class", "age"]);
        let m = Mapping::new().with("gender", "Attribute9");
        assert_eq!(
            bind("gender", &m, &c),
            Ok(("Attribute9".into(), BoundBy::Mapping))
        );
        assert_eq!(bind("age", &m, &c), Ok(("age".into(), BoundBy::SameName)));
        assert_eq!(
            bind("target", &m, &c),
            Ok(("class".into(), BoundBy::Synonym))
        );
    }

    #[test]
    fn unbound_variable_lists_the_columns() {
        let c = cols(&["a", "b"]);
        let e = bind("gender", &Mapping::new(), &c).unwrap_err();
        assert_eq!(
            e,
            "variable \"gender\" matches no column (map it with gender=COLUMN); columns: a, b"
        );
        let e = bind("gender", &Mapping::new().with("gender", "sexx"), &c).unwrap_err();
        assert!(
            e.contains("mapped to column \"sexx\", which the data does not have"),
            "{e}"
        );
    }
}
