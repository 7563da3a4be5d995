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

/// Whether a control's outcome fails its evaluation: anything but a pass,
/// in `block` mode (`warn` and `monitor` only record). The one rule behind
/// a results document's `passed`, `scan`'s verdict and its exit code.
pub fn blocks(status: Status, enforcement_mode: &str) -> bool {
    status != Status::Pass && enforcement_mode == "block"
}

/// What to call the policy of a results document (its `policy` object):
/// its title, else its path, else "policy".
pub fn policy_name(policy: &serde_json::Value) -> &str {
    policy["title"]
        .as_str()
        .or_else(|| policy["path"].as_str())
        .unwrap_or("policy")
}

/// What identifies a policy across its versions: its OSCAL uuid, else its
/// path.
pub fn policy_key(policy: &serde_json::Value) -> Option<&str> {
    policy["uuid"].as_str().or_else(|| policy["path"].as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_blocking_control_that_did_not_pass_blocks() {
        for s in Status::ALL {
            assert_eq!(blocks(s, "block"), s != Status::Pass);
            assert!(!blocks(s, "warn") && !blocks(s, "monitor"));
        }
    }

    #[test]
    fn a_policy_is_named_by_title_then_path_and_keyed_by_uuid_then_path() {
        let full = serde_json::json!({"title": "Loans", "path": "p.yaml", "uuid": "u-1"});
        assert_eq!(
            (policy_name(&full), policy_key(&full)),
            ("Loans", Some("u-1"))
        );
        let bare = serde_json::json!({"path": "p.yaml"});
        assert_eq!(
            (policy_name(&bare), policy_key(&bare)),
            ("p.yaml", Some("p.yaml"))
        );
        let none = serde_json::json!({});
        assert_eq!((policy_name(&none), policy_key(&none)), ("policy", None));
    }

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
