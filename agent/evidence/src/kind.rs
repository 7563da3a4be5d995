//! What an event records: the one list of event kinds every writer and reader
//! of the trail shares.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The `kind` of an event body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// A notebook cell run through the kernel proxy (timing, energy).
    Cell,
    /// A policy evaluated on data (`enforce`, `vl.enforce`, `%vl_enforce`).
    Enforce,
    /// A measured window (`monitor`, `vl.monitor`, `%%vl_monitor`).
    Monitor,
    /// A project scan (BOM, latest status).
    Scan,
    /// An export to an experiment tracker.
    Export,
}

impl EventKind {
    pub const ALL: [EventKind; 5] = [
        EventKind::Cell,
        EventKind::Enforce,
        EventKind::Monitor,
        EventKind::Scan,
        EventKind::Export,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Cell => "cell",
            EventKind::Enforce => "enforce",
            EventKind::Monitor => "monitor",
            EventKind::Scan => "scan",
            EventKind::Export => "export",
        }
    }

    /// The kind named in an event body; `None` for a name we do not write.
    pub fn parse(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The kind of a parsed event body (`{"kind": ..., "payload": ...}`).
    pub fn of(body: &serde_json::Value) -> Option<EventKind> {
        body.get("kind")?.as_str().and_then(EventKind::parse)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        assert_eq!(EventKind::parse("Cell"), None);
    }
}
