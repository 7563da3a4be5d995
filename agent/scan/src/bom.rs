//! The project as a CycloneDX 1.6 bill of materials (JSON).
//!
//! Components: Python and Rust packages (`library`, with a purl), notebooks
//! (`file`, SHA-256), datasets (`data`) and models (`machine-learning-model`)
//! the code loads, and the policy versions the evidence store holds (`file`,
//! SHA-256). Where each was found goes into `venturalitica:*` properties.

use std::path::Path;

use serde_json::{json, Value};

use crate::detect::{Asset, AssetKind};
use crate::inventory::{normalise, Package};

/// The inputs of a BOM.
#[derive(Debug)]
pub struct BomInputs<'a> {
    pub root: &'a Path,
    pub project_name: String,
    pub project_version: Option<String>,
    pub packages: &'a [Package],
    pub notebooks: &'a [std::path::PathBuf],
    pub assets: &'a [Asset],
    /// (path relative to the root, sha256) of stored policy copies.
    pub policies: &'a [(String, String)],
    pub timestamp: String,
}

fn prop(name: &str, value: impl Into<String>) -> Value {
    json!({ "name": format!("venturalitica:{name}"), "value": value.into() })
}

fn file_sha256(path: &Path) -> Option<String> {
    venturalitica_evidence::artifact::sha256_file(path)
        .ok()
        .map(|(sha256, _)| sha256)
}

/// The BOM document.
pub fn build(inputs: &BomInputs) -> Value {
    let mut components: Vec<Value> = Vec::new();
    for p in inputs.packages {
        let name = if p.ecosystem == "pypi" {
            normalise(&p.name)
        } else {
            p.name.clone()
        };
        let purl = match &p.version {
            Some(v) => format!("pkg:{}/{name}@{v}", p.ecosystem),
            None => format!("pkg:{}/{name}", p.ecosystem),
        };
        let mut props = vec![prop("declared-in", p.sources.join(", "))];
        if let Some(r) = &p.requirement {
            props.push(prop("requirement", r.clone()));
        }
        let mut c = json!({
            "type": "library",
            "bom-ref": purl,
            "name": p.name,
            "purl": purl,
            "properties": props,
        });
        if let Some(v) = &p.version {
            c["version"] = json!(v);
        }
        components.push(c);
    }
    for nb in inputs.notebooks {
        let rel = nb.to_string_lossy().into_owned();
        let mut c = json!({
            "type": "file",
            "bom-ref": format!("notebook:{rel}"),
            "name": rel,
            "properties": [prop("role", "notebook")],
        });
        if let Some(h) = file_sha256(&inputs.root.join(nb)) {
            c["hashes"] = json!([{ "alg": "SHA-256", "content": h }]);
        }
        components.push(c);
    }
    // One component per distinct asset; every place that loads it is listed.
    let mut assets: Vec<&Asset> = inputs.assets.iter().collect();
    assets.sort();
    let mut i = 0;
    while i < assets.len() {
        let a = assets[i];
        let same: Vec<&Asset> = assets[i..]
            .iter()
            .take_while(|b| b.kind == a.kind && b.name == a.name)
            .copied()
            .collect();
        i += same.len();
        let (kind, prefix) = match a.kind {
            AssetKind::Dataset => ("data", "dataset"),
            AssetKind::Model => ("machine-learning-model", "model"),
        };
        let mut props: Vec<Value> = same
            .iter()
            .map(|s| prop("loaded-in", s.found_in.clone()))
            .collect();
        props.push(prop("loader", a.loader.clone()));
        let mut c = json!({
            "type": kind,
            "bom-ref": format!("{prefix}:{}", a.name),
            "name": a.name,
            "properties": props,
        });
        if let Some(h) = file_sha256(&inputs.root.join(&a.name)) {
            c["hashes"] = json!([{ "alg": "SHA-256", "content": h }]);
        }
        components.push(c);
    }
    for (rel, sha) in inputs.policies {
        components.push(json!({
            "type": "file",
            "bom-ref": format!("policy:{sha}"),
            "name": rel,
            "hashes": [{ "alg": "SHA-256", "content": sha }],
            "properties": [prop("role", "policy")],
        }));
    }
    let refs: Vec<Value> = components.iter().map(|c| c["bom-ref"].clone()).collect();
    let mut project = json!({
        "type": "application",
        "bom-ref": "project",
        "name": inputs.project_name,
    });
    if let Some(v) = &inputs.project_version {
        project["version"] = json!(v);
    }
    json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{}", uuid::Uuid::new_v4()),
        "version": 1,
        "metadata": {
            "timestamp": inputs.timestamp,
            "tools": { "components": [{
                "type": "application",
                "name": "venturalitica",
                "version": env!("CARGO_PKG_VERSION"),
            }]},
            "component": project,
        },
        "components": components,
        "dependencies": [{ "ref": "project", "dependsOn": refs }],
    })
}
