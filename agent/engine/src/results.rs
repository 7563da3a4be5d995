//! The results shape, shared by the CLI's `--format json`, the Python
//! package and the evidence store: defined once, in the vocabulary crate
//! (`venturalitica_vocab::results`), with the schema generated from it.

pub use venturalitica_vocab::results::{
    Binding, ControlResult, DataInfo, EnforcementMode, EngineInfo, PolicyInfo, Results, SourceInfo,
    Status, Summary, SCHEMA_VERSION, UNLOADABLE_SHAPE,
};

/// Now, as results stamp `evaluated_at`.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
