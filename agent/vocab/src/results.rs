//! The words of a results document (schemas/results.schema.json) that
//! every reader shares.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A control's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// The control could not be evaluated (unbound column, undefined
    /// metric, bad parameter). Never counts as passed.
    Error,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Pass, Status::Fail, Status::Error];

    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Error => "error",
        }
    }

    pub fn parse(name: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.name()), Some(s));
            let json = serde_json::to_value(s).expect("serialises");
            assert_eq!(json, s.name());
            assert_eq!(serde_json::from_value::<Status>(json).expect("parses"), s);
        }
        assert_eq!(Status::parse("PASS"), None);
    }
}
