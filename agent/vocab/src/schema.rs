//! The JSON schemas of `schemas/`, generated from the vocabulary's types:
//! `cargo test -p venturalitica-vocab` fails when a committed schema differs
//! from what the types say, and `VENTURALITICA_WRITE_SCHEMAS=1` rewrites it.

use schemars::{generate::SchemaSettings, JsonSchema};

use crate::events::EventBody;
use crate::results::Results;

/// Each schema file of `schemas/`, with its generated text.
pub fn all() -> Vec<(&'static str, String)> {
    vec![
        ("results.schema.json", text::<Results>("results/v1")),
        ("event.schema.json", text::<EventBody>("event/v1")),
    ]
}

fn text<T: JsonSchema>(id: &str) -> String {
    // What the agent writes: a field is required unless it is left out
    // when empty (readers are more lenient with older records).
    let mut schema = SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<T>();
    schema.insert(
        "$id".into(),
        format!("https://venturalitica.ai/schemas/{id}.json").into(),
    );
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn the_committed_schemas_are_what_the_types_say() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
        let write = std::env::var_os("VENTURALITICA_WRITE_SCHEMAS").is_some();
        for (file, generated) in super::all() {
            let path = dir.join(file);
            if write {
                std::fs::write(&path, &generated).expect("writes the schema");
                continue;
            }
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == generated,
                "schemas/{file} differs from the types in agent/vocab; \
                 rerun with VENTURALITICA_WRITE_SCHEMAS=1 and review the diff"
            );
        }
    }
}
